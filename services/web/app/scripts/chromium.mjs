// Debian's Chromium, as the browser tests and Lighthouse start it: browsers cannot be
// downloaded here, so the project's scripts install the system one (apt-get). As root it
// needs --no-sandbox; the rest keeps it off the network (no update, sync or QUIC probes) and
// lets WebGL run in software when headless (the dashboard's map).
export const CHROMIUM_PATH = process.env.CHROME_PATH ?? "/usr/bin/chromium";

export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--enable-unsafe-swiftshader",
];
