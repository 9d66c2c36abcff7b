// Places the server's field violations next to the inputs they name. The server names fields
// by their path in the request (`title`, `window.end_time`, `task.headcount` in an update,
// `required_skill_ids[2]`); each input declares the paths it stands for. Whatever no input
// claims still reaches the summary, so no refusal is ever hidden.
// Each problem is put into the console's words by `explain` (servertext.ts), which keeps the
// server's text as the detail.
import type { FieldErrors } from "../lib/errors";
import type { Problem } from "../shared-staff/components";

export interface Placed {
  /** Input id to its problems. */
  byInput: Record<string, Problem[]>;
  /** Every problem with the label of its input (or its raw path), for the summary. */
  summary: { inputId?: string; label: string; problem: Problem }[];
}

/** A server's description as it stands. */
const asIs = (_path: string, description: string): Problem => ({ text: description });

/**
 * `inputs`: input id → [label, paths it shows]. A path matches an input when it equals one
 * of its paths, or continues it (`meeting_point` claims `meeting_point.latitude` only when no
 * input claims that exactly). `prefix` (e.g. `task.`) is dropped from the server's paths first;
 * `[i]` indices are dropped too. `explain` gets the path without the prefix (indices kept) and
 * the server's description.
 */
export function placeViolations(
  errors: FieldErrors,
  inputs: Record<string, [label: string, paths: string[]]>,
  prefix = "",
  explain: (path: string, description: string) => Problem = asIs,
): Placed {
  const placed: Placed = { byInput: {}, summary: [] };
  for (const [rawPath, descriptions] of Object.entries(errors)) {
    const indexed = rawPath.startsWith(prefix) ? rawPath.slice(prefix.length) : rawPath;
    const path = indexed.replace(/\[\d+\]/g, "");
    const problems = descriptions.map((d) => explain(indexed, d));
    let best: string | undefined;
    let bestLength = -1;
    for (const [id, [, paths]] of Object.entries(inputs)) {
      for (const p of paths) {
        if ((path === p || path.startsWith(`${p}.`)) && p.length > bestLength) {
          best = id;
          bestLength = p.length;
        }
      }
    }
    for (const problem of problems) {
      if (best) (placed.byInput[best] ??= []).push(problem);
      placed.summary.push({ inputId: best, label: best ? inputs[best][0] : rawPath, problem });
    }
  }
  return placed;
}

/** Attributes that tie an input to its hint and its error text. */
export function describe(
  placed: Placed | null,
  id: string,
  hint = false,
): { "aria-invalid"?: "true"; "aria-describedby"?: string } {
  const invalid = !!placed?.byInput[id]?.length;
  const ids = [hint ? `${id}-hint` : "", invalid ? `${id}-error` : ""].filter(Boolean).join(" ");
  return { ...(invalid ? { "aria-invalid": "true" as const } : {}), ...(ids ? { "aria-describedby": ids } : {}) };
}
