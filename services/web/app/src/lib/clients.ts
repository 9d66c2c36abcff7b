// gRPC-Web clients of the three services, generated from proto/ (src/gen, `npm run gen`).
// A token getter adds `authorization: Bearer …` to every call when a token is held.
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import type { AppConfig } from "./config";
import { RegistrationService } from "../gen/spontan/v1/registration_pb";
import { TaskService } from "../gen/spontan/v1/task_pb";
import { MatchingService } from "../gen/spontan/v1/matching_pb";

export type TokenGetter = () => string | null | undefined;

export interface Clients {
  registration: Client<typeof RegistrationService>;
  task: Client<typeof TaskService>;
  matching: Client<typeof MatchingService>;
}

function bearer(token: TokenGetter): Interceptor {
  return (next) => async (request) => {
    const value = token();
    if (value) request.header.set("authorization", `Bearer ${value}`);
    return next(request);
  };
}

export function clients(config: AppConfig, token: TokenGetter): Clients {
  const transport = (baseUrl: string) =>
    createGrpcWebTransport({ baseUrl, interceptors: [bearer(token)] });
  return {
    registration: createClient(RegistrationService, transport(config.registrationUrl)),
    task: createClient(TaskService, transport(config.taskUrl)),
    matching: createClient(MatchingService, transport(config.matchingUrl)),
  };
}

/** The two services the volunteer app talks to (leaves the task service out of its bundle). */
export interface VolunteerClients {
  registration: Client<typeof RegistrationService>;
  matching: Client<typeof MatchingService>;
}

export function volunteerClients(config: AppConfig, token: TokenGetter): VolunteerClients {
  const transport = (baseUrl: string) =>
    createGrpcWebTransport({ baseUrl, interceptors: [bearer(token)] });
  return {
    registration: createClient(RegistrationService, transport(config.registrationUrl)),
    matching: createClient(MatchingService, transport(config.matchingUrl)),
  };
}
