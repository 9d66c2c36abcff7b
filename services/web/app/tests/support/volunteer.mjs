// What the volunteer app's tests share beyond browser.mjs: the task's current check-in code
// and its QR code as a photo, the local mock push service (npm `web-push-testing`), a
// browser whose push subscription comes from that mock, and pushing a message into the
// app's service worker.
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { createInterface } from "node:readline";
import { resolve } from "node:path";
import { GREY, encodePng } from "../../scripts/png.mjs";
import { encode } from "uqr";
import { sql, suite } from "./browser.mjs";

/**
 * The task's current check-in code, as the coordinator's screen at the meeting point shows
 * it: computed like the matching service does (services/matching/src/check_in.rs: HMAC-SHA256
 * of the task id and the 10-minute period under the task's secret, RFC 4226 truncation).
 */
export function checkInCode(taskId) {
  const secret = sql(suite.matchingDb, `SELECT encode(check_in_secret, 'hex') FROM tasks WHERE id = '${taskId}'`);
  const period = Buffer.alloc(8);
  period.writeBigInt64BE(BigInt(Math.floor(Date.now() / 1000 / 600)));
  const digest = createHmac("sha256", Buffer.from(secret, "hex"))
    .update(Buffer.from(taskId.replaceAll("-", ""), "hex"))
    .update(period)
    .digest();
  const at = digest[digest.length - 1] & 0x0f;
  const value = (((digest[at] & 0x7f) << 24) | (digest[at + 1] << 16) | (digest[at + 2] << 8) | digest[at + 3]) >>> 0;
  return String(value % 1_000_000).padStart(6, "0");
}

/** The text of the task's check-in QR code (MatchingService.GetCheckInCode's qr_text). */
export const checkInQrText = (taskId) => `spontan-checkin:${taskId}:${checkInCode(taskId)}`;

/**
 * A QR code of `text` as a PNG "photo": grey, black modules on white paper with a quiet zone,
 * `scale` pixels a module, in the middle of a larger grey picture (as a phone would take it).
 */
export function qrPng(text, { scale = 8, margin = 120 } = {}) {
  const qr = encode(text, { ecc: "M", border: 4 });
  return greyPng(qr.size * scale + 2 * margin, (x, y) => {
    const mx = Math.floor((x - margin) / scale);
    const my = Math.floor((y - margin) / scale);
    const inside = mx >= 0 && my >= 0 && mx < qr.size && my < qr.size;
    return inside ? (qr.data[my][mx] ? 0x20 : 0xf4) : 0x9a;
  });
}

/** A photo with no code in it: grey with a lighter square. */
export function plainPng(side = 400) {
  return greyPng(side, (x, y) => (x > side / 4 && x < (3 * side) / 4 && y > side / 4 && y < (3 * side) / 4 ? 0xe0 : 0x9a));
}

/** A greyscale PNG of `side`² pixels, `shade(x, y)` each. */
function greyPng(side, shade) {
  const rows = [];
  for (let y = 0; y < side; y++) {
    const row = Buffer.alloc(1 + side); // filter 0, then one grey byte a pixel
    for (let x = 0; x < side; x++) row[1 + x] = shade(x, y);
    rows.push(row);
  }
  return encodePng(side, side, GREY, rows);
}

/** The mock push service's `cli.js` (deploy/local/browser-test.sh installs it), or undefined. */
export const webPushTesting = process.env.SPONTAN_WEB_PUSH_TESTING;

/**
 * Starts the mock push service of `web-push-testing` on 127.0.0.1 (through the registration
 * service's launcher, services/registration/tests/support/web-push-mock.cjs): it makes
 * subscriptions bound to a VAPID key, refuses messages not signed with that key, and
 * decrypts what it accepts (RFC 8291). Stop it with `stop()`.
 */
export async function startPushService(cli = webPushTesting) {
  const launcher = resolve(import.meta.dirname, "../../../../registration/tests/support/web-push-mock.cjs");
  const child = spawn(process.execPath, [launcher, cli], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error("the mock push service did not start")), 30_000);
    lines.once("line", (line) => {
      clearTimeout(timer);
      const match = /^listening (\d+)$/.exec(line);
      match ? resolvePort(Number(match[1])) : reject(new Error(`mock push service said ${line}`));
    });
    child.once("exit", (code) => reject(new Error(`mock push service exited (${code})`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const post = async (path, body) => {
    const response = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = await response.json().catch(() => null);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status} ${JSON.stringify(json)}`);
    return json.data;
  };
  return {
    base,
    /** A subscription bound to `vapidPublicKey`: { endpoint, keys: { p256dh, auth }, clientHash }. */
    subscribe: (vapidPublicKey) => post("/subscribe", { userVisibleOnly: "true", applicationServerKey: vapidPublicKey }),
    /** Every message the mock accepted for the subscription, decrypted (strings). */
    messages: async (clientHash) => (await post("/get-notifications", { clientHash })).messages,
    stop() {
      child.stdin.end();
      child.kill();
    },
  };
}

/**
 * Makes the browser context's push manager hand out `subscription` (from the mock push
 * service) instead of asking the browser's own push service, which headless Chromium cannot
 * reach. Only subscribe / getSubscription / unsubscribe are replaced; everything else (the
 * permission, the service worker, the app's calls) is the browser's own. The key the app
 * subscribed with is kept in localStorage `test.push.key` (base64url), and `test.push.unsubscribed`
 * is set when the app unsubscribes.
 */
export async function fakePushManager(context, subscription) {
  await context.addInitScript((sub) => {
    if (!("PushManager" in self)) return;
    const STATE = "test.push.key";
    const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const bytes = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    const current = () => {
      const key = localStorage.getItem(STATE);
      if (!key) return null;
      return {
        endpoint: sub.endpoint,
        expirationTime: null,
        options: { userVisibleOnly: true, applicationServerKey: bytes(key).buffer },
        getKey: (name) => bytes(sub.keys[name]).buffer,
        toJSON: () => ({ endpoint: sub.endpoint, expirationTime: null, keys: { ...sub.keys } }),
        unsubscribe: async () => {
          localStorage.removeItem(STATE);
          localStorage.setItem("test.push.unsubscribed", "1");
          return true;
        },
      };
    };
    PushManager.prototype.getSubscription = async function getSubscription() {
      return current();
    };
    PushManager.prototype.subscribe = async function subscribe(options) {
      const key = options?.applicationServerKey;
      if (!key || options.userVisibleOnly !== true) throw new DOMException("userVisibleOnly and a key are required", "NotSupportedError");
      localStorage.setItem(STATE, b64url(new Uint8Array(ArrayBuffer.isView(key) ? key.buffer.slice(key.byteOffset, key.byteOffset + key.byteLength) : key)));
      return current();
    };
  }, subscription);
}

/**
 * Delivers a push message with `data` (a string) to the app's service worker, as the
 * browser's push service would (CDP ServiceWorker.deliverPushMessage).
 */
export async function deliverPush(page, data) {
  const cdp = await page.context().newCDPSession(page);
  const origin = new URL(page.url()).origin;
  let registrationId;
  cdp.on("ServiceWorker.workerRegistrationUpdated", (event) => {
    for (const r of event.registrations) if (!r.isDeleted && r.scopeURL.startsWith(origin)) registrationId = r.registrationId;
  });
  await cdp.send("ServiceWorker.enable");
  const deadline = Date.now() + 10_000;
  while (registrationId === undefined) {
    if (Date.now() > deadline) throw new Error("no service worker registration for the page");
    await new Promise((r) => setTimeout(r, 100));
  }
  await cdp.send("ServiceWorker.deliverPushMessage", { origin, registrationId, data });
  await cdp.detach();
}

/** The notifications the app's service worker shows now: title, body, tag, data. */
export async function shownNotifications(context) {
  const [worker] = context.serviceWorkers();
  if (!worker) return [];
  return worker.evaluate(async () =>
    (await self.registration.getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, data: n.data })),
  );
}

/** Taps the notification with `tag`, as far as a test can: its click event in the service worker. */
export async function tapNotification(context, tag) {
  const [worker] = context.serviceWorkers();
  return worker.evaluate(async (tag) => {
    const [notification] = await self.registration.getNotifications({ tag });
    if (!notification) throw new Error(`no notification ${tag}`);
    self.dispatchEvent(new NotificationEvent("notificationclick", { notification }));
  }, tag);
}
