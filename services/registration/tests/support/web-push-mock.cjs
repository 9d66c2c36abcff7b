// Starts the mock push service of the npm package `web-push-testing` (pinned in
// deploy/local/test.sh) on 127.0.0.1 and a port the system picks, and prints
// `listening <port>` once it accepts connections. The package's own CLI starts the server
// detached, on every interface and on a port the caller must pick beforehand, and tracks it in
// a file in the working directory; started this way it stays a child of the test (it exits
// when its stdin closes), listens on loopback only, and no port is probed and bound later.
// This reaches into the package's server object (`_app`, `setRequestHandlers`): fine for the
// pinned version, to be checked when the pin moves.
//
// Usage: node web-push-mock.cjs <path to web-push-testing/src/bin/cli.js>
'use strict';
const path = require('path');

const src = path.resolve(path.dirname(process.argv[2]), '..');
const TestingServer = require(path.join(src, 'server.js'));
const {PushApiModel} = require(path.join(src, 'PushApiModel.js'));

const model = new PushApiModel();
const server = new TestingServer(model, 0);
const listener = server._app.listen(0, '127.0.0.1', () => {
  const {port} = listener.address();
  // Subscriptions name this endpoint; the package would say localhost:0.
  model.notifyUrl = `http://127.0.0.1:${port}/notify/`;
  console.log(`listening ${port}`);
});
listener.on('error', err => {
  console.error(err);
  process.exit(1);
});
server.setRequestHandlers();

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
