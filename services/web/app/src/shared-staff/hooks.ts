import { useEffect, useRef, useState } from "preact/hooks";
import { applyLocale, detectLocale, type Locale } from "../lib/i18n";

/** The page's language: detected once, switchable, remembered, applied to <html>. */
export function useLocale(): [Locale, (l: Locale) => void] {
  const [locale, setLocale] = useState<Locale>(() => {
    const l = detectLocale();
    applyLocale(l);
    return l;
  });
  return [
    locale,
    (l: Locale) => {
      applyLocale(l, true);
      setLocale(l);
    },
  ];
}

/**
 * Calls `tick` now and then every `intervalMs` while the page is visible (and at once when it
 * becomes visible again); calls never overlap. `deps` restart the cycle.
 */
export function usePolling(tick: () => Promise<void> | void, intervalMs: number, deps: unknown[]): void {
  const tickRef = useRef(tick);
  tickRef.current = tick;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running = false;
    const run = async () => {
      if (stopped || running) return;
      clearTimeout(timer);
      if (document.visibilityState === "hidden") return;
      running = true;
      try {
        await tickRef.current();
      } catch (error) {
        console.warn("poll failed", error);
      } finally {
        running = false;
        if (!stopped) timer = setTimeout(run, intervalMs);
      }
    };
    const onVisible = () => {
      if (document.visibilityState === "visible") void run();
    };
    document.addEventListener("visibilitychange", onVisible);
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisible);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
}

/**
 * For an effect that shows a map: once `load` (the import() that brings the map library, kept
 * out of the page's first load) has resolved, `create` makes the map in `container` unless the
 * effect was cleaned up meanwhile. `setStatus` hears "ready", or why loading failed. Returns
 * the effect's cleanup, which destroys the map.
 */
export function mountMap<Module, M extends { destroy(): void }>(
  map: { current: M | null },
  container: { current: HTMLDivElement | null },
  load: () => Promise<Module>,
  create: (module: Module, element: HTMLDivElement) => M,
  setStatus: (status: string) => void,
): () => void {
  let cancelled = false;
  load()
    .then((module) => {
      if (cancelled || !container.current) return;
      map.current = create(module, container.current);
      setStatus("ready");
    })
    .catch((e: unknown) => setStatus(e instanceof Error ? e.message : String(e)));
  return () => {
    cancelled = true;
    map.current?.destroy();
    map.current = null;
  };
}
