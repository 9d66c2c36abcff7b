// Service clients whose generated code loads on first use.
//
// Building the protobuf descriptors of the generated code (src/gen) is the largest piece of
// work a page does when its scripts run: on a mid-range phone it held the volunteer app's
// first screen back by a few hundred milliseconds (docs/benchmarks.md, Lighthouse). The
// volunteer app shows its first screen without it and loads it with the first call; the call
// waits for it, and every later call goes straight through.
//
// Only unary methods: a server-streaming call could not hand back its stream before the code
// has loaded. The volunteer app makes no streaming calls.
import type { AppConfig } from "./config";
import type { TokenGetter, VolunteerClients } from "./clients";

/** A stand-in for a client that loads the real one at the first call of any method. */
function deferred<C extends object>(load: () => Promise<C>): C {
  return new Proxy({} as C, {
    get(_, method) {
      // Not a thenable: `await` on the stand-in must not call a method named "then".
      if (typeof method !== "string" || method === "then") return undefined;
      return (request: unknown, options: unknown) =>
        load().then((client) => (client as Record<string, (r: unknown, o: unknown) => unknown>)[method](request, options));
    },
  });
}

/**
 * The volunteer app's clients (lib/clients.ts `volunteerClients`), loaded with the first call.
 * The generated code is evaluated one file per task, so that no single task holds the page
 * (a long task blocks taps and scrolling until it ends).
 */
export function lazyVolunteerClients(config: AppConfig, token: TokenGetter): VolunteerClients {
  let loaded: Promise<VolunteerClients> | undefined;
  const load = () =>
    (loaded ??= (async () => {
      await import("../gen/spontan/v1/common_pb");
      await nextTask();
      await import("../gen/google/rpc/error_details_pb");
      await nextTask();
      await import("../gen/spontan/v1/registration_pb");
      await nextTask();
      await import("../gen/spontan/v1/matching_pb");
      await nextTask();
      const { volunteerClients } = await import("./clients");
      return volunteerClients(config, token);
    })().catch((error: unknown) => {
      // A chunk that did not arrive (offline on a first visit): the next call tries again.
      loaded = undefined;
      throw error;
    }));
  return {
    registration: deferred<VolunteerClients["registration"]>(() => load().then((c) => c.registration)),
    matching: deferred<VolunteerClients["matching"]>(() => load().then((c) => c.matching)),
  };
}

/** Resolves in a new task, so that the work before and after it are not one long task. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
