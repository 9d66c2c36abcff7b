// The live change feed of one incident. First the backlog through ListMatchChanges (so the
// page knows when it has caught up), then WatchMatchChanges (server streaming over gRPC-Web)
// from the cursor. When the stream fails or goes silent, the feed polls ListMatchChanges with
// the cursor and tries the stream again with backoff, always resuming from the last sequence
// it applied, so no change is lost or applied twice.
import { Code } from "@connectrpc/connect";
import type { MatchChange } from "../gen/spontan/v1/matching_pb";
import type { Clients } from "../lib/clients";
import { code, reason } from "../lib/errors";

export type FeedMode = "connecting" | "stream" | "polling" | "ended";

export interface FeedHandlers {
  /** Changes in ascending sequence, each delivered once. `caughtUp` once the backlog is read. */
  onChanges: (changes: MatchChange[], caughtUp: boolean) => void;
  onMode: (mode: FeedMode) => void;
  /** The server's log restarted (CURSOR_AHEAD, e.g. after a restore): drop what was applied. */
  onReset: () => void;
  /** An error that is not the stream's or the network's (e.g. UNAUTHENTICATED). */
  onFatal: (error: unknown) => void;
}

export interface FeedOptions {
  /** How often to poll while the stream is down. */
  pollMs?: number;
  /** The server sends a keep-alive at least every 30 s; silence longer than this is a dead stream. */
  silenceMs?: number;
  /** First and largest wait before trying the stream again. */
  retryMs?: number;
  maxRetryMs?: number;
  /** For tests and diagnosis: never open the stream, poll only. */
  pollOnly?: boolean;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

function fatal(error: unknown): boolean {
  const c = code(error);
  return c === Code.Unauthenticated || c === Code.PermissionDenied || c === Code.NotFound || c === Code.InvalidArgument;
}

/** Follows `incidentId` until the returned function is called. */
export function followIncident(api: Clients, incidentId: string, handlers: FeedHandlers, options: FeedOptions = {}): () => void {
  const pollMs = options.pollMs ?? 1500;
  const silenceMs = options.silenceMs ?? 45000;
  const retryMs = options.retryMs ?? 3000;
  const maxRetryMs = options.maxRetryMs ?? 60000;
  const stop = new AbortController();
  let cursor = 0n;
  let caughtUp = false;
  let mode: FeedMode | null = null;
  let wake: (() => void) | null = null;
  /** Whether the last stream attempt got through (then the next retry starts soon again). */
  let streamed = false;

  const setMode = (m: FeedMode) => {
    if (m !== mode) handlers.onMode((mode = m));
  };
  const deliver = (changes: MatchChange[]) => {
    const fresh = changes.filter((c) => c.sequence > cursor);
    if (fresh.length) cursor = fresh[fresh.length - 1].sequence;
    if (fresh.length || !caughtUp) handlers.onChanges(fresh, caughtUp);
  };
  /**
   * What a failed call means for the loop: "stop" when following stopped or the error is one
   * that trying again cannot mend (reported), "reset" when the server's log restarted
   * (CURSOR_AHEAD: read again from the start), else "retry".
   */
  const afterFailure = (error: unknown): "stop" | "reset" | "retry" => {
    if (stop.signal.aborted) return "stop";
    if (code(error) === Code.FailedPrecondition && reason(error) === "CURSOR_AHEAD") {
      cursor = 0n;
      caughtUp = false;
      handlers.onReset();
      return "reset";
    }
    if (fatal(error)) {
      handlers.onFatal(error);
      return "stop";
    }
    return "retry";
  };

  /** Reads every change after the cursor; throws when the service does not answer. */
  const poll = async () => {
    for (;;) {
      const response = await api.matching.listMatchChanges({ incidentId, afterSequence: cursor, limit: 1000 }, { signal: stop.signal });
      deliver(response.changes);
      if (!response.hasMore) break;
    }
    if (!caughtUp) {
      caughtUp = true;
      handlers.onChanges([], true);
    }
  };

  /** Streams until the stream ends (true: the incident closed) or fails (throws). */
  const stream = async (): Promise<boolean> => {
    const attempt = new AbortController();
    const abort = () => attempt.abort();
    stop.signal.addEventListener("abort", abort);
    let watchdog = setTimeout(abort, silenceMs);
    try {
      const responses = api.matching.watchMatchChanges(
        { incidentId, afterSequence: cursor, limit: 1000 },
        {
          signal: attempt.signal,
          // The server answers with headers at once; changes may not come for a while.
          onHeader: () => {
            streamed = true;
            setMode("stream");
          },
        },
      );
      for await (const response of responses) {
        clearTimeout(watchdog);
        watchdog = setTimeout(abort, silenceMs);
        streamed = true;
        setMode("stream");
        deliver(response.changes);
      }
      return true;
    } finally {
      clearTimeout(watchdog);
      stop.signal.removeEventListener("abort", abort);
    }
  };

  const onOnline = () => wake?.();
  addEventListener("online", onOnline);

  void (async () => {
    setMode("connecting");
    let backoff = retryMs;
    while (!stop.signal.aborted) {
      try {
        await poll();
        if (options.pollOnly) throw new Error("poll only");
        let ended: boolean;
        try {
          ended = await stream();
        } catch (error) {
          // The server ends a stream when the token it was opened with ends: open it again
          // at once with the token held now (renewed meanwhile). Without a valid one, the
          // poll that comes first fails and says so.
          if (code(error) === Code.Unauthenticated && !stop.signal.aborted) continue;
          throw error;
        }
        if (ended) {
          // Closed incident: the last changes were sent; read any left and stop.
          await poll();
          setMode("ended");
          return;
        }
      } catch (error) {
        const next = afterFailure(error);
        if (next === "stop") return;
        if (next === "reset") continue;
        if (!options.pollOnly) console.warn("change stream failed; polling", error);
      }
      // The stream is down: poll until it is time to try it again.
      setMode("polling");
      if (streamed) backoff = retryMs;
      streamed = false;
      const retryAt = Date.now() + backoff;
      backoff = Math.min(backoff * 2, maxRetryMs);
      while (!stop.signal.aborted && (options.pollOnly || Date.now() < retryAt)) {
        const woken = new Promise<void>((resolve) => (wake = resolve));
        await Promise.race([sleep(pollMs, stop.signal), woken]);
        wake = null;
        try {
          await poll();
        } catch (error) {
          const next = afterFailure(error);
          if (next === "stop") return;
          if (next === "reset") continue;
        }
      }
    }
  })();

  return () => {
    stop.abort();
    removeEventListener("online", onOnline);
  };
}
