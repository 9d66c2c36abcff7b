// A refusal or failure in words, for both staff pages: no answer at all, permissions, and
// otherwise the server's reason and message.
import { Code } from "@connectrpc/connect";
import { code, isTransient, message, reason } from "../lib/errors";
import type { SharedKey, Translate } from "./messages";

export function describeError(t: Translate<SharedKey>, error: unknown): string {
  if (isTransient(error) || code(error) === Code.DeadlineExceeded) return t("common.offline");
  if (code(error) === Code.PermissionDenied) return `${t("common.permission")} (${message(error)})`;
  const why = reason(error);
  const text = message(error);
  return t("common.error", { message: why && !text.startsWith(why) ? `${why}: ${text}` : text });
}
