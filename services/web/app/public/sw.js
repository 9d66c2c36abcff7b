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
const SHELL_CACHE = "spontan-shell-v1";
const ASSET_CACHE = "spontan-assets-v1";
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
      const keep = new Set([SHELL_CACHE, ASSET_CACHE]);
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
