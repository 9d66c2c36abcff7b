// gRPC-Web clients of the three services, generated from proto/ (src/gen, `npm run gen`).
// A token getter adds `authorization: Bearer …` to every call when a token is held, and the
// rich details of every error are decoded here, once, for lib/errors.ts.
import { ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import type { AppConfig } from "./config";
import { recordDetails, type FieldErrors } from "./errors";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../gen/google/rpc/error_details_pb";
import { RegistrationService } from "../gen/spontan/v1/registration_pb";
import { TaskService } from "../gen/spontan/v1/task_pb";
import { MatchingService } from "../gen/spontan/v1/matching_pb";

/** The access token to send, or a promise of it (a volunteer's may be refreshed first). */
export type TokenGetter = () => string | null | undefined | Promise<string | null | undefined>;

export interface Clients {
  registration: Client<typeof RegistrationService>;
  task: Client<typeof TaskService>;
  matching: Client<typeof MatchingService>;
}

function bearer(token: TokenGetter): Interceptor {
  return (next) => async (request) => {
    // RefreshSession's credential is the refresh token in its body, and it is called when
    // the access token has run out: that token in the header would have it refused.
    if (request.method.name === "RefreshSession") return next(request);
    const value = await token();
    if (value) request.header.set("authorization", `Bearer ${value}`);
    return next(request);
  };
}

function decode(error: unknown): void {
  if (!(error instanceof ConnectError)) return;
  const violations: FieldErrors = {};
  for (const detail of error.findDetails(BadRequestSchema)) {
    for (const violation of detail.fieldViolations) {
      (violations[violation.field] ??= []).push(violation.description);
    }
  }
  const delay = error.findDetails(RetryInfoSchema)[0]?.retryDelay;
  recordDetails(error, {
    violations,
    reason: error.findDetails(ErrorInfoSchema)[0]?.reason,
    retryAfterMs: delay ? Number(delay.seconds) * 1000 + Math.floor(delay.nanos / 1e6) : undefined,
  });
}

/** Decodes the details of an error a call ends with, unary or streaming (at any message). */
const details: Interceptor = (next) => async (request) => {
  try {
    const response = await next(request);
    if (!response.stream) return response;
    const messages = response.message;
    return {
      ...response,
      message: (async function* () {
        try {
          yield* messages;
        } catch (error) {
          decode(error);
          throw error;
        }
      })(),
    };
  } catch (error) {
    decode(error);
    throw error;
  }
};

const transport = (baseUrl: string, token: TokenGetter) =>
  createGrpcWebTransport({ baseUrl, interceptors: [bearer(token), details] });

export function clients(config: AppConfig, token: TokenGetter): Clients {
  return {
    registration: createClient(RegistrationService, transport(config.registrationUrl, token)),
    task: createClient(TaskService, transport(config.taskUrl, token)),
    matching: createClient(MatchingService, transport(config.matchingUrl, token)),
  };
}

/** The two services the volunteer app talks to (leaves the task service out of its bundle). */
export interface VolunteerClients {
  registration: Client<typeof RegistrationService>;
  matching: Client<typeof MatchingService>;
}

export function volunteerClients(config: AppConfig, token: TokenGetter): VolunteerClients {
  return {
    registration: createClient(RegistrationService, transport(config.registrationUrl, token)),
    matching: createClient(MatchingService, transport(config.matchingUrl, token)),
  };
}
