// The volunteer app's service worker: keeps the app's shell on the phone so that it opens
// without a network (a registration typed offline waits in the page's outbox until one
// comes back). Small on purpose, no library:
//   - the shell ("/", its hashed /assets/*, the manifest and icons, /config.json) is cached
//     at install;
//   - /assets/* (content-hashed, immutable): cache first;
//   - the app's page and /config.json: network first, the cached copy when the network fails
//     or takes longer than a few seconds (a bad network must not leave a white screen);
//   - everything else, and every non-GET request, is not touched: gRPC-Web calls are POSTs
//     to the services and are never cached, and the console and dashboard pages load as
//     without a service worker.
// It also shows offers, withdrawals, coordinators' messages and reminders that arrive by Web
// Push as notifications (when the volunteer turned on "Alerts on this phone"), in the
// language the app was last used in, and opens the offers when one is tapped.
const SHELL_CACHE = "spontan-shell-v1";
const ASSET_CACHE = "spontan-assets-v1";
/** Small settings the page leaves for the worker (which cannot read localStorage): the language. */
const SETTINGS_CACHE = "spontan-settings";
const SHELL = ["/", "/config.json", "/manifest.webmanifest", "/icons/icon.svg", "/icons/icon-192.png", "/icons/icon-512.png"];
const NETWORK_WAIT_MS = 4000;

/** The /assets/* a page references (its script, stylesheet and preloads). */
function assetsOf(html) {
  return [...new Set(html.match(/\/assets\/[^"'\s>]+/g) ?? [])];
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const shell = await caches.open(SHELL_CACHE);
      await shell.addAll(SHELL);
      const page = await shell.match("/");
      const assets = await caches.open(ASSET_CACHE);
      await assets.addAll(assetsOf(await page.text()));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const keep = new Set([SHELL_CACHE, ASSET_CACHE, SETTINGS_CACHE]);
      for (const name of await caches.keys()) {
        if (name.startsWith("spontan-") && !keep.has(name)) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

async function cacheFirst(request) {
  const cached = await caches.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) {
    const cache = await caches.open(ASSET_CACHE);
    await cache.put(request, response.clone());
  }
  return response;
}

/** Drops cached assets the new page no longer references (each build renames them). */
async function prune(html) {
  const wanted = new Set(assetsOf(html));
  const cache = await caches.open(ASSET_CACHE);
  for (const request of await cache.keys()) {
    if (!wanted.has(new URL(request.url).pathname)) await cache.delete(request);
  }
}

/** The network's answer, stored under `key`; the stored one when the network fails or is slow. */
async function networkFirst(event, key) {
  const cache = await caches.open(SHELL_CACHE);
  const fromNetwork = fetch(event.request).then(async (response) => {
    if (response.ok && !response.redirected) {
      await cache.put(key, response.clone());
      if (key === "/") event.waitUntil(response.clone().text().then(prune));
    }
    return response;
  });
  event.waitUntil(fromNetwork.catch(() => undefined));
  const slow = new Promise((resolve) => setTimeout(resolve, NETWORK_WAIT_MS));
  try {
    const first = await Promise.race([fromNetwork, slow.then(() => undefined)]);
    if (first) return first;
    // Slow network: answer from the cache if we can, and let the fetch finish in the background.
    return (await cache.match(key)) ?? (await fromNetwork);
  } catch {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw new Error("offline and not cached");
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/assets/")) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === "navigate" && (url.pathname === "/" || url.pathname === "/index.html")) {
    event.respondWith(networkFirst(event, "/"));
  } else if (url.pathname === "/config.json") {
    event.respondWith(networkFirst(event, "/config.json"));
  } else if (url.pathname === "/manifest.webmanifest" || url.pathname.startsWith("/icons/")) {
    event.respondWith(caches.match(request).then((cached) => cached ?? fetch(request)));
  }
});

// Web Push. The registration service sends JSON, encrypted for this device:
//   {"type": "offer" | "withdrawn" | "message" | "reminder", "match_id", "task_title",
//    "expires_at" (offers only), "text" (messages and reminders: the whole text)}
// (services/registration/src/alerts/web_push.rs). One notification per match for offers and
// withdrawals (its tag), so a withdrawal replaces the offer it withdraws. A message or a
// reminder is a notification of its own beside them, its text as the body: tagged by match
// and text, so a message delivered twice (alerts go out at least once) shows once.

const WORDS = {
  en: {
    offer: "New offer: {title}",
    offerBody: "Please answer by {time}: open Spontan to accept or decline.",
    offerBodyNoTime: "Open Spontan to accept or decline.",
    withdrawn: "Offer withdrawn: {title}",
    withdrawnBody: "This task no longer needs you. Thank you for your help!",
    message: "Message from the coordinators",
    reminder: "Reminder",
    about: "{heading}: {title}",
    other: "Spontan",
    otherBody: "There is news about your offers.",
  },
  de: {
    offer: "Neues Angebot: {title}",
    offerBody: "Bitte antworten Sie bis {time}: in Spontan annehmen oder ablehnen.",
    offerBodyNoTime: "In Spontan annehmen oder ablehnen.",
    withdrawn: "Angebot zurückgezogen: {title}",
    withdrawnBody: "Dieser Einsatz braucht Sie nicht mehr. Danke für Ihre Hilfe!",
    message: "Nachricht der Einsatzleitung",
    reminder: "Erinnerung",
    about: "{heading}: {title}",
    other: "Spontan",
    otherBody: "Es gibt Neuigkeiten zu Ihren Angeboten.",
  },
};

/** The app's language (the page stores its choice, `spontan.locale`, here), else the device's. */
async function language() {
  try {
    const stored = await (await caches.open(SETTINGS_CACHE)).match("/settings/locale");
    const value = stored ? await stored.text() : "";
    if (value === "de" || value === "en") return value;
  } catch {
    // No cache: the device's language below.
  }
  return String(self.navigator.language || "en").toLowerCase().startsWith("de") ? "de" : "en";
}

const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");

/** A short stable name of a text (FNV-1a, hex), for a notification's tag. */
function textKey(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

async function showAlert(data) {
  let message = {};
  try {
    message = data ? data.json() : {};
  } catch {
    // Not JSON: a generic notification (a push must always show one).
  }
  const lang = await language();
  const words = WORDS[lang];
  const title = String(message.task_title ?? "").slice(0, 120);
  const matchId = typeof message.match_id === "string" ? message.match_id : "";
  const text = typeof message.text === "string" ? message.text.trim() : "";
  let heading = words.other;
  let body = words.otherBody;
  let tag = matchId ? `match-${matchId}` : "spontan";
  let renotify = true;
  if ((message.type === "message" || message.type === "reminder") && text) {
    heading = title ? fill(words.about, { heading: words[message.type], title }) : words[message.type];
    body = text;
    tag = `${message.type}-${matchId}-${textKey(text)}`;
    // The same message again (a repeated delivery) replaces its copy without a second alert.
    renotify = false;
  } else if (message.type === "offer" && title) {
    heading = fill(words.offer, { title });
    const until = Date.parse(message.expires_at ?? "");
    body = Number.isFinite(until)
      ? fill(words.offerBody, {
          time: new Intl.DateTimeFormat(lang === "de" ? "de-DE" : "en-GB", { hour: "2-digit", minute: "2-digit" }).format(until),
        })
      : words.offerBodyNoTime;
  } else if (message.type === "withdrawn" && title) {
    heading = fill(words.withdrawn, { title });
    body = words.withdrawnBody;
  }
  await self.registration.showNotification(heading, {
    body,
    lang,
    tag,
    renotify,
    requireInteraction: message.type === "offer",
    icon: "/icons/icon-192.png",
    badge: "/icons/icon-192.png",
    data: { url: "/#/offers", matchId, type: message.type ?? "" },
  });
  // An open app refreshes its offers at once instead of at its next poll.
  for (const client of await self.clients.matchAll({ type: "window" })) {
    client.postMessage({ type: "spontan-push" });
  }
}

self.addEventListener("push", (event) => {
  event.waitUntil(showAlert(event.data));
});

/** A tapped notification: the app's window, focused and on the offers; a new one if none is open. */
async function openOffers() {
  const windows = await self.clients.matchAll({ type: "window" });
  const app = windows.find((client) => new URL(client.url).pathname === "/");
  if (app) {
    try {
      await app.focus();
    } catch {
      // Focus needs the tap's permission; the app is still told where to go.
    }
    app.postMessage({ type: "spontan-open", screen: "offers" });
    return;
  }
  await self.clients.openWindow("/#/offers");
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openOffers());
});
