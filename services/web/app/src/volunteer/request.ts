// The plain request kept in the outbox (form.ts) as the protobuf RegisterRequest: loaded when
// a registration is sent, with the generated code (lib/lazy.ts).
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { AlertChannel } from "../gen/spontan/v1/common_pb";
import { RegisterRequestSchema, type RegisterRequest } from "../gen/spontan/v1/registration_pb";
import type { PlainRequest } from "./form";

export function registerRequest(key: string, plain: PlainRequest): RegisterRequest {
  const channel =
    typeof plain.channel === "number" ? plain.channel : plain.channel === "email" ? AlertChannel.EMAIL : AlertChannel.SMS;
  return create(RegisterRequestSchema, {
    idempotencyKey: key,
    consent: { given: plain.consent, textVersion: plain.consentVersion },
    contact: { displayName: plain.name, phoneE164: plain.phone, email: plain.email },
    preferredAlertChannel: channel,
    skillIds: plain.skills,
    languages: plain.languages,
    birthYear: plain.birthYear,
    homeLocation: plain.location,
    travelRadiusKm: plain.radius,
    availability: plain.windows.map(([start, end]) => ({
      startTime: timestampFromMs(start),
      endTime: timestampFromMs(end),
    })),
  });
}
