// A refusal or failure in words, for both staff pages: no answer at all, permissions, the
// refusals whose reason the pages know (ErrorInfo reasons such as TASK_FINISHED, in the
// page's language), and otherwise the server's reason and message. The server's own text,
// which is in English, is kept as the detail.
import { Code } from "@connectrpc/connect";
import { code, isTransient, message, reason } from "../lib/errors";
import type { SharedKey, Translate } from "./messages";

/** The reasons (google.rpc.ErrorInfo, or the `REASON:` prefix) a staff page can meet. */
const REASONS: Record<string, SharedKey> = {
  TASK_FINISHED: "reason.TASK_FINISHED",
  INCIDENT_CLOSED: "reason.INCIDENT_CLOSED",
  MATCH_NOT_ACCEPTED: "reason.MATCH_NOT_ACCEPTED",
  MATCH_NOT_CHECKED_IN: "reason.MATCH_NOT_CHECKED_IN",
  INVALID_TRANSITION: "reason.INVALID_TRANSITION",
  MATCH_FINISHED: "reason.MATCH_FINISHED",
};

export interface Explained {
  /** In the page's language. */
  text: string;
  /** The server's own message (English), when there is one worth keeping. */
  detail?: string;
}

export function explainError(t: Translate<SharedKey>, error: unknown): Explained {
  if (isTransient(error) || code(error) === Code.DeadlineExceeded) return { text: t("common.offline") };
  const text = message(error);
  if (code(error) === Code.PermissionDenied) return { text: t("common.permission"), detail: text || undefined };
  const why = reason(error);
  const known = why ? REASONS[why] : undefined;
  if (known) return { text: t(known), detail: text };
  return { text: t("common.error", { message: why && !text.startsWith(why) ? `${why}: ${text}` : text }) };
}

/** The same in one line: the text, then the server's message in brackets. */
export function describeError(t: Translate<SharedKey>, error: unknown): string {
  const { text, detail } = explainError(t, error);
  return detail ? `${text} (${detail})` : text;
}
