// The audit trail of one incident, for admins (issue #18, item 8): the three trails the
// services keep, merged into one timeline, newest first. The task service's
// (ListTaskAuditEntries: the incident and its tasks), matching's (ListAuditEntries: check-in,
// check-out, completion, no-show, optimisation) and registration's contact reads
// (ListContactReads, asked for the incident's tasks, at most 500 ids a call). Each source is
// paged with after_id until it is exhausted or the cap of one load is reached ("Load more"
// continues from there); a source that fails says so at its place while the others show.
// None of the answers holds volunteer data: matches are named by id. Loaded with import()
// from main.tsx, only for admins.
import { useEffect, useState } from "preact/hooks";
import type { Incident, Task } from "../gen/spontan/v1/task_pb";
import { explainError } from "../shared-staff/errors";
import { formatNumber, formatTime, toDate } from "../shared-staff/format";
import { listAllTasks } from "./incident";
import type { ConsoleProps } from "./incidents";
import type { Key, T } from "./ui";

export type Source = "tasks" | "matches" | "contacts";
const SOURCES: readonly Source[] = ["tasks", "matches", "contacts"];

/** Entries asked for per call (the services' maximum). */
const PAGE = 500;
/** Calls per source and load: 2,000 entries, then "Load more". */
const PAGES_PER_LOAD = 4;
/** ListContactReads takes at most this many task ids. */
const TASK_IDS_PER_CALL = 500;

interface Row {
  source: Source;
  /** Unique in the page: source and the entry's id. */
  key: string;
  id: bigint;
  at: Date | undefined;
  actorSubject: string;
  actorRole: string;
  action: string;
  taskId: string;
  matchId: string;
  details: Record<string, unknown>;
}

/** One paged call: entries after `afterId`, and whether more may follow. */
interface Cursor {
  afterId: bigint;
  done: boolean;
}

interface SourceState {
  rows: Row[];
  cursors: Cursor[];
  loading: boolean;
  error: unknown;
}

const initial = (): SourceState => ({ rows: [], cursors: [], loading: true, error: null });

function parseDetails(json: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(json || "{}");
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * Pages through one trail from `cursor` for at most PAGES_PER_LOAD calls; `fetch` answers
 * one page. A page shorter than asked for is the last.
 */
async function drain(cursor: Cursor, fetch: (afterId: bigint) => Promise<{ rows: Row[]; next: bigint }>): Promise<{ rows: Row[]; cursor: Cursor }> {
  const rows: Row[] = [];
  let afterId = cursor.afterId;
  for (let page = 0; page < PAGES_PER_LOAD; page++) {
    const answer = await fetch(afterId);
    rows.push(...answer.rows);
    const finished = answer.rows.length < PAGE || answer.next === afterId;
    afterId = answer.next;
    if (finished) return { rows, cursor: { afterId, done: true } };
  }
  return { rows, cursor: { afterId, done: false } };
}

export function AuditPage(props: ConsoleProps & { incidentId: string }) {
  const { t, api, locale, incidentId } = props;
  const [incident, setIncident] = useState<Incident | null>(null);
  const [tasks, setTasks] = useState<Task[] | null>(null);
  const [taskError, setTaskError] = useState<unknown>(null);
  const [state, setState] = useState<Record<Source, SourceState>>({ tasks: initial(), matches: initial(), contacts: initial() });
  const [shown, setShown] = useState<Record<Source, boolean>>({ tasks: true, matches: true, contacts: true });
  const [generation, setGeneration] = useState(0);

  const update = (source: Source, change: Partial<SourceState>) => setState((s) => ({ ...s, [source]: { ...s[source], ...change } }));

  /** Loads (more of) one source from its cursors; `taskIds` only for contact reads. */
  const load = async (source: Source, cursors: Cursor[], taskIds: string[][]) => {
    update(source, { loading: true, error: null });
    try {
      const results = await Promise.all(
        cursors.map((cursor, i) => (cursor.done ? Promise.resolve({ rows: [], cursor }) : drain(cursor, (afterId) => fetchPage(source, afterId, taskIds[i] ?? [])))),
      );
      setState((s) => ({
        ...s,
        [source]: { rows: [...s[source].rows, ...results.flatMap((r) => r.rows)], cursors: results.map((r) => r.cursor), loading: false, error: null },
      }));
    } catch (e) {
      if (props.onAuthError(e)) return;
      update(source, { loading: false, error: e });
    }
  };

  const fetchPage = async (source: Source, afterId: bigint, taskIds: string[]): Promise<{ rows: Row[]; next: bigint }> => {
    if (source === "tasks") {
      const r = await api.task.listTaskAuditEntries({ incidentId, afterId, limit: PAGE });
      return {
        next: r.nextAfterId,
        rows: r.entries.map((e) => ({
          source,
          key: `t${e.id}`,
          id: e.id,
          at: toDate(e.occurredAt),
          actorSubject: e.actorSubject,
          actorRole: e.actorRole,
          action: e.action,
          taskId: e.entityKind === "task" ? e.entityId : "",
          matchId: "",
          details: parseDetails(e.detailsJson),
        })),
      };
    }
    if (source === "matches") {
      const r = await api.matching.listAuditEntries({ incidentId, afterId, limit: PAGE });
      return {
        next: r.nextAfterId,
        rows: r.entries.map((e) => {
          const details = parseDetails(e.detailsJson);
          return {
            source,
            key: `m${e.id}`,
            id: e.id,
            at: toDate(e.occurredAt),
            actorSubject: e.actorSubject,
            actorRole: e.actorRole,
            action: e.action,
            taskId: typeof details.task_id === "string" ? details.task_id : "",
            matchId: e.matchId,
            details,
          };
        }),
      };
    }
    const r = await api.registration.listContactReads({ taskIds, afterId, limit: PAGE });
    return {
      next: r.nextAfterId,
      rows: r.reads.map((read) => ({
        source,
        key: `c${read.id}`,
        id: read.id,
        at: toDate(read.readAt),
        actorSubject: read.readerSubject,
        actorRole: "",
        action: "contact.read",
        taskId: read.taskId,
        matchId: read.matchId,
        details: {},
      })),
    };
  };

  const batches = (list: Task[]) => {
    const ids = list.map((task) => task.taskId);
    const out: string[][] = [];
    for (let i = 0; i < ids.length; i += TASK_IDS_PER_CALL) out.push(ids.slice(i, i + TASK_IDS_PER_CALL));
    return out;
  };

  useEffect(() => {
    setState({ tasks: initial(), matches: initial(), contacts: initial() });
    setTaskError(null);
    api.task.getIncident({ incidentId }).then(
      (r) => setIncident(r.incident ?? null),
      (e: unknown) => props.onAuthError(e),
    );
    const start = [{ afterId: 0n, done: false }];
    void load("tasks", start, []);
    void load("matches", start, []);
    listAllTasks(props, incidentId).then(
      (list) => {
        setTasks(list);
        const ids = batches(list);
        if (ids.length === 0) update("contacts", { loading: false, cursors: [] });
        else void load("contacts", ids.map(() => ({ afterId: 0n, done: false })), ids);
      },
      (e: unknown) => {
        if (props.onAuthError(e)) return;
        setTaskError(e);
        update("contacts", { loading: false, error: e });
      },
    );
  }, [api, incidentId, generation]);

  const titles = new Map((tasks ?? []).map((task) => [task.taskId, task.title]));
  const rows = SOURCES.filter((s) => shown[s])
    .flatMap((s) => state[s].rows)
    .sort((a, b) => (b.at?.getTime() ?? 0) - (a.at?.getTime() ?? 0) || (a.source === b.source ? Number(b.id - a.id) : a.source < b.source ? 1 : -1));
  const anyLoading = SOURCES.some((s) => state[s].loading);
  const name = (s: Source) => t(`audit.name.${s}` as Key);

  return (
    <main id="main" class="page audit">
      <p>
        <a
          href={`./?incident=${encodeURIComponent(incidentId)}`}
          onClick={(e) => {
            e.preventDefault();
            props.navigate(incidentId);
          }}
        >
          ← {t("audit.back")}
        </a>
      </p>
      <div class="row">
        <h1>{t("audit.title", { name: incident?.name ?? "…" })}</h1>
        <span class="spacer" />
        <button type="button" class="button button--quiet" disabled={anyLoading} onClick={() => setGeneration((g) => g + 1)}>
          {t("audit.refresh")}
        </button>
      </div>
      <p class="hint">{t("audit.intro")}</p>
      <fieldset class="audit__filter">
        <legend>{t("audit.filter")}</legend>
        {SOURCES.map((s) => (
          <label key={s} class="check">
            <input type="checkbox" checked={shown[s]} onChange={() => setShown((x) => ({ ...x, [s]: !x[s] }))} data-source={s} />{" "}
            {t(`audit.source.${s}` as Key, { count: state[s].rows.length })}
          </label>
        ))}
      </fieldset>
      {SOURCES.map((s) => (
        <SourceStatus key={s} t={t} source={s} name={name(s)} state={state[s]} taskError={s === "contacts" ? taskError : null} onMore={() => {
          const ids = tasks ? batches(tasks) : [];
          void load(s, state[s].cursors, ids);
        }} />
      ))}
      {anyLoading && (
        <p role="status" aria-busy="true">
          {t("common.loading")}
        </p>
      )}
      <div class="audit__scroll" role="region" aria-label={t("audit.caption")} tabIndex={0}>
        <table class="audit__table" data-testid="audit-trail">
          <caption>{t("audit.caption")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("audit.time")}</th>
              <th scope="col">{t("audit.who")}</th>
              <th scope="col">{t("audit.what")}</th>
              <th scope="col">{t("audit.task")}</th>
              <th scope="col">{t("audit.details")}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.key} data-source={row.source} data-action={row.action}>
                <td>
                  <time dateTime={row.at?.toISOString()} title={row.at?.toLocaleString(locale === "de" ? "de-DE" : "en-GB")}>
                    {formatTime(row.at, locale)}
                  </time>
                </td>
                <td>
                  <span class="audit__subject">{row.actorSubject || "–"}</span>
                  {row.actorRole && <span class="hint"> ({roleWord(t, row.actorRole)})</span>}
                </td>
                <td>{actionWord(t, row.action)}</td>
                <td>{row.taskId ? (titles.get(row.taskId) ?? (typeof row.details.title === "string" ? row.details.title : <code>{row.taskId}</code>)) : "–"}</td>
                <td>{detailWords(t, row, locale).join("; ")}</td>
              </tr>
            ))}
            {!anyLoading && rows.length === 0 && (
              <tr>
                <td colSpan={5}>{t("audit.empty")}</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </main>
  );
}

function SourceStatus(props: { t: T; source: Source; name: string; state: SourceState; taskError: unknown; onMore: () => void }) {
  const { t, state } = props;
  const more = !state.loading && !state.error && state.cursors.some((c) => !c.done);
  if (state.error) {
    const { text, detail } = explainError(t, state.error);
    return (
      <p class="notice notice--error" role="alert" data-source={props.source}>
        {props.taskError ? t("audit.noTasks") : t("audit.failed", { source: props.name })} {text}
        {detail && (
          <span class="notice__detail">
            {" "}
            ({t("common.serverSaid")} <span lang="en">{detail}</span>)
          </span>
        )}
      </p>
    );
  }
  if (!more) return null;
  return (
    <div class="notice notice--warn row" data-source={props.source}>
      <span>{t("audit.capped", { source: props.name, count: state.rows.length })}</span>
      <button type="button" class="button button--small" onClick={props.onMore}>
        {t("audit.loadMore", { source: props.name })}
      </button>
    </div>
  );
}

const ACTIONS = new Set([
  "incident.opened",
  "incident.closed",
  "incident.optimized",
  "task.created",
  "task.updated",
  "task.cancelled",
  "task.completed",
  "task.status_changed",
  "match.checked_in",
  "match.checked_out",
  "match.completed",
  "match.no_show",
  "contact.read",
]);

function actionWord(t: T, action: string) {
  return ACTIONS.has(action) ? t(`audit.action.${action}` as Key) : <code>{action}</code>;
}

function roleWord(t: T, role: string): string {
  return role === "admin" || role === "coordinator" || role === "system" ? t(`audit.role.${role}` as Key) : role;
}

/** Task and match states as the services write them, in the console's words. */
const STATE_KEYS: Record<string, Key> = {
  open: "taskStatus.1",
  staffed: "taskStatus.2",
  in_progress: "taskStatus.3",
  completed: "taskStatus.4",
  cancelled: "taskStatus.5",
};
const MATCH_STATE_KEYS: Record<string, Key> = {
  accepted: "matchState.3",
  checked_in: "matchState.4",
  completed: "matchState.5",
  no_show: "matchState.9",
};

/** The few details worth a word: reasons, previous states, counts. Never volunteer data (none is sent). */
function detailWords(t: T, row: Row, locale: ConsoleProps["locale"]): string[] {
  const d = row.details;
  const text = (v: unknown) => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "");
  const status = (v: unknown) => (STATE_KEYS[text(v)] ? t(STATE_KEYS[text(v)]) : text(v));
  const out: string[] = [];
  if (text(d.reason)) out.push(t("audit.detail.reason", { reason: text(d.reason) }));
  if (d.cause === "incident_closed") out.push(t("audit.detail.closedIncident"));
  if (text(d.previous_status)) out.push(t("audit.detail.previous", { status: status(d.previous_status) }));
  if (text(d.from) && text(d.to)) out.push(t("audit.detail.fromTo", { from: status(d.from), to: status(d.to) }));
  if (Array.isArray(d.changed_fields) && d.changed_fields.length) out.push(t("audit.detail.changed", { fields: d.changed_fields.map(text).join(", ") }));
  if (typeof d.version === "number") out.push(t("audit.detail.version", { version: d.version }));
  if (row.action === "task.created" && typeof d.headcount === "number") out.push(t("audit.detail.headcount", { count: d.headcount }));
  if (typeof d.region_radius_km === "number") out.push(t("audit.detail.radius", { km: formatNumber(d.region_radius_km, locale, 1) }));
  if (typeof d.cancelled_tasks === "number") out.push(t("audit.detail.closed", { cancelled: d.cancelled_tasks, completed: text(d.completed_tasks) || 0 }));
  if (row.source === "matches" && text(d.state)) {
    const key = MATCH_STATE_KEYS[text(d.state)];
    out.push(t("audit.detail.state", { state: key ? t(key) : text(d.state) }));
  }
  if (typeof d.created_match_count === "number") out.push(t("audit.detail.optimized", { created: d.created_match_count, assignments: text(d.assignments) || 0 }));
  if (row.matchId) out.push(t("audit.detail.match", { id: row.matchId.slice(0, 8) }));
  return out;
}
