// The emergency dashboard (/dashboard/): read-only, never personal data. An incident's
// coverage by priority, its tasks by priority and staffing, a map, and the live change feed.
// Staffing counts follow the feed at once (the feed carries every match transition), so a
// volunteer's acceptance shows within the stream's latency, without a reload; coverage totals
// are fetched again right after a change. `?wall=1` is the wall-screen mode.
import { render } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { IncidentStatus, MatchState, Priority, TaskStatus } from "../gen/spontan/v1/common_pb";
import type { GetIncidentSummaryResponse, MatchChange } from "../gen/spontan/v1/matching_pb";
import type { Incident, Task } from "../gen/spontan/v1/task_pb";
import type { Clients } from "../lib/clients";
import { translator, type Locale } from "../lib/i18n";
import { useStaff } from "../shared-staff/bootstrap";
import { LanguageSwitch, SignIn, TopBar } from "../shared-staff/components";
import {
  countsAsAccepted,
  countsAsCheckedIn,
  countsAsOffered,
  formatPercent,
  formatTime,
  formatWindow,
  isTaskFinished,
  PRIORITY_COLOUR,
  PRIORITY_NAME,
  toDate,
} from "../shared-staff/format";
import { describeError } from "../shared-staff/errors";
import { mountMap, useLocale, usePolling } from "../shared-staff/hooks";
import type { KeyOf, Translate } from "../shared-staff/messages";
import type { AppConfig } from "../lib/config";
import { followIncident, type FeedMode } from "./feed";
import { dictionaries } from "./messages";
import type { MapTask, TaskMap } from "./map";
import "../shared-staff/staff.css";
import "./dashboard.css";

type T = Translate<KeyOf<typeof dictionaries>>;
const STORAGE_KEY = "spontan.dashboard.token";
const REFRESH_MS = 5000;
const FEED_LENGTH = 40;

interface Counts {
  offered: number;
  accepted: number;
  checkedIn: number;
}

function params() {
  const p = new URLSearchParams(location.search);
  return { wall: p.get("wall") === "1", incident: p.get("incident"), pollOnly: p.get("feed") === "poll" };
}

function setParam(name: string, value: string | null) {
  const url = new URL(location.href);
  if (value === null) url.searchParams.delete(name);
  else url.searchParams.set(name, value);
  history.pushState(null, "", url.pathname + url.search);
}

async function listAll<T>(fetchPage: (token: string) => Promise<{ items: T[]; next: string }>): Promise<T[]> {
  const out: T[] = [];
  let token = "";
  for (let page = 0; page < 20; page++) {
    const { items, next } = await fetchPage(token);
    out.push(...items);
    token = next;
    if (!token) break;
  }
  return out;
}

function App() {
  const [locale, setLocale] = useLocale();
  const t = translator(dictionaries, locale);
  const staff = useStaff(STORAGE_KEY, ["dashboard", "coordinator", "admin"]);
  const [wall, setWall] = useState(() => params().wall);

  useEffect(() => {
    document.title = `${t("app.title")} · Spontan`;
  }, [locale]);
  useEffect(() => {
    const onPop = () => setWall(params().wall);
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape" && params().wall) {
        setParam("wall", null);
        setWall(false);
      }
    };
    addEventListener("popstate", onPop);
    addEventListener("keydown", onKey);
    return () => {
      removeEventListener("popstate", onPop);
      removeEventListener("keydown", onKey);
    };
  }, []);
  useEffect(() => {
    document.documentElement.classList.toggle("wall", wall);
  }, [wall]);

  const session = staff.state.session;
  if (!session) {
    return <SignIn t={t} staff={staff} role="dashboard" locale={locale} onLocale={setLocale} />;
  }
  return (
    <>
      {!wall && <TopBar t={t} title={t("app.title")} session={session} locale={locale} onLocale={setLocale} onSignOut={staff.signOut} />}
      {staff.api && staff.config ? (
        <Dashboard
          t={t}
          locale={locale}
          api={staff.api}
          config={staff.config}
          wall={wall}
          onWall={() => {
            setParam("wall", "1");
            setWall(true);
          }}
          onAuthError={staff.handleAuthError}
          onLocale={setLocale}
        />
      ) : (
        <main id="main" class="page">
          {staff.configError ? <p role="alert">{t("common.error", { message: staff.configError })}</p> : <p>{t("common.loading")}</p>}
        </main>
      )}
    </>
  );
}

interface DashboardProps {
  t: T;
  locale: Locale;
  api: Clients;
  config: AppConfig;
  wall: boolean;
  onWall: () => void;
  onAuthError: (error: unknown) => boolean;
  onLocale: (l: Locale) => void;
}

function Dashboard(props: DashboardProps) {
  const { t, api, wall } = props;
  const [incidents, setIncidents] = useState<Incident[] | null>(null);
  const [chosen, setChosen] = useState<string | null>(() => params().incident);
  const [error, setError] = useState<unknown>(null);

  usePolling(
    async () => {
      try {
        const list = await listAll((pageToken) =>
          api.task.listIncidents({ pageSize: 100, pageToken }).then((r) => ({ items: r.incidents, next: r.nextPageToken })),
        );
        setIncidents(list);
        setError(null);
      } catch (e) {
        if (!props.onAuthError(e)) setError(e);
      }
    },
    30000,
    [api],
  );

  // Without a choice, follow the newest open incident (a wall screen picks up a new one).
  const incident = incidents?.find((i) => i.incidentId === chosen) ?? incidents?.find((i) => i.status === IncidentStatus.OPEN) ?? incidents?.[0];

  return (
    <main id="main" class="dash">
      <div class="dash__head">
        {wall ? (
          <h1 class="dash__title">{incident?.name ?? t("app.title")}</h1>
        ) : (
          <>
            <h1 class="visually-hidden">{t("app.title")}</h1>
            <div class="field field--inline">
              <label for="incident-picker">{t("incident.pick")}</label>
              <select
                id="incident-picker"
                value={incident?.incidentId ?? ""}
                onChange={(e) => {
                  const id = (e.target as HTMLSelectElement).value;
                  setChosen(id);
                  setParam("incident", id);
                }}
              >
                {incidents?.map((i) => (
                  <option key={i.incidentId} value={i.incidentId}>
                    {i.name}
                    {i.status === IncidentStatus.CLOSED ? ` (${t("incident.closed")})` : ""}
                  </option>
                ))}
              </select>
            </div>
            <span class="spacer" />
            <button type="button" class="button" onClick={props.onWall}>
              {t("wall.enter")}
            </button>
          </>
        )}
        {wall && <Clock locale={props.locale} />}
      </div>
      {wall && <p class="visually-hidden">{t("wall.hint")}</p>}
      {error ? (
        <p class="notice notice--error" role="alert">
          {describeError(t, error)}
        </p>
      ) : null}
      {incidents?.length === 0 && <p>{t("incident.none")}</p>}
      {incidents === null && !error && <p>{t("common.loading")}</p>}
      {incident && <IncidentBoard key={incident.incidentId} {...props} incident={incident} />}
      {wall && (
        <div class="wall-lang">
          <LanguageSwitch t={t} locale={props.locale} onChange={props.onLocale} />
        </div>
      )}
    </main>
  );
}

function Clock({ locale }: { locale: Locale }) {
  const [now, setNow] = useState(new Date());
  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), 10000);
    return () => clearInterval(timer);
  }, []);
  return <span class="dash__clock">{formatTime(now, locale)}</span>;
}

/** What the coverage panel shows: the server's summary, or the same figures derived live. */
interface SummaryView {
  needed: number;
  accepted: number;
  offered: number;
  checkedIn: number;
  availableVolunteers: number;
  coverage: { priority: Priority; taskCount: number; staffedTaskCount: number; needed: number; accepted: number; coverage: number }[];
  asOf: Date | undefined;
}

function fromServer(s: GetIncidentSummaryResponse): SummaryView {
  return {
    needed: s.needed,
    accepted: s.accepted,
    offered: s.offered,
    checkedIn: s.checkedIn,
    availableVolunteers: s.availableVolunteers,
    coverage: s.coverage.map((p) => ({ ...p })),
    asOf: toDate(s.computedAt),
  };
}

/**
 * The summary's figures computed from the tasks and the feed, by the rules of
 * GetIncidentSummary (active tasks; accepted counted up to each task's headcount), so that
 * a change moves the totals in the same instant as the task list. Only the volunteers
 * available nearby come from the server.
 */
function derive(server: GetIncidentSummaryResponse, tasks: Task[], countsOf: (task: Task) => Counts, asOf: Date | null): SummaryView {
  const view: SummaryView = { needed: 0, accepted: 0, offered: 0, checkedIn: 0, availableVolunteers: server.availableVolunteers, coverage: [], asOf: later(toDate(server.computedAt), asOf) };
  const byPriority = new Map<Priority, SummaryView["coverage"][number]>();
  for (const task of tasks) {
    if (isTaskFinished(task.status)) continue;
    const c = countsOf(task);
    const accepted = Math.min(c.accepted, task.headcount);
    const row = byPriority.get(task.priority) ?? { priority: task.priority, taskCount: 0, staffedTaskCount: 0, needed: 0, accepted: 0, coverage: 1 };
    row.taskCount++;
    if (c.accepted >= task.headcount) row.staffedTaskCount++;
    row.needed += task.headcount;
    row.accepted += accepted;
    byPriority.set(task.priority, row);
    view.needed += task.headcount;
    view.accepted += accepted;
    view.offered += c.offered;
    view.checkedIn += c.checkedIn;
  }
  view.coverage = [...byPriority.values()]
    .map((row) => ({ ...row, coverage: row.needed ? row.accepted / row.needed : 1 }))
    .sort((a, b) => a.priority - b.priority);
  return view;
}

function later(a: Date | undefined, b: Date | null): Date | undefined {
  return !b || (a && a > b) ? a : b;
}

/** The status the task service will give the task once it has seen the same changes. */
function liveStatus(task: Task, c: Counts): TaskStatus {
  if (task.status !== TaskStatus.OPEN && task.status !== TaskStatus.STAFFED) return task.status;
  if (c.checkedIn > 0) return TaskStatus.IN_PROGRESS;
  return c.accepted >= task.headcount ? TaskStatus.STAFFED : TaskStatus.OPEN;
}

function IncidentBoard(props: DashboardProps & { incident: Incident }) {
  const { t, api, incident, locale, wall } = props;
  const incidentId = incident.incidentId;
  const [tasks, setTasks] = useState<Task[] | null>(null);
  const [summary, setSummary] = useState<GetIncidentSummaryResponse | null>(null);
  const [mode, setMode] = useState<FeedMode>("connecting");
  const [feed, setFeed] = useState<MatchChange[]>([]);
  const [caughtUp, setCaughtUp] = useState(false);
  const [lastChange, setLastChange] = useState<Date | null>(null);
  const [showFinished, setShowFinished] = useState(false);
  // Latest state of every match, from the feed: the per-task counts.
  const matches = useRef(new Map<string, { taskId: string; state: MatchState }>());
  const [matchesVersion, setMatchesVersion] = useState(0);
  const knownTasks = useRef(new Set<string>());

  const loadTasks = async () => {
    try {
      const list = await listAll((pageToken) =>
        api.task.listTasks({ incidentId, pageSize: 200, pageToken }).then((r) => ({ items: r.tasks, next: r.nextPageToken })),
      );
      knownTasks.current = new Set(list.map((x) => x.taskId));
      setTasks(list);
    } catch (e) {
      props.onAuthError(e);
    }
  };
  const loadSummary = async () => {
    try {
      setSummary(await api.matching.getIncidentSummary({ incidentId }));
    } catch (e) {
      props.onAuthError(e);
    }
  };
  usePolling(loadTasks, REFRESH_MS, [api, incidentId]);
  usePolling(loadSummary, REFRESH_MS, [api, incidentId]);

  // After a change, fetch the totals again soon (coalescing bursts).
  const pending = useRef<{ summary?: ReturnType<typeof setTimeout>; tasks?: ReturnType<typeof setTimeout> }>({});
  const soon = (what: "summary" | "tasks", run: () => Promise<void>, ms: number) => {
    if (pending.current[what]) return;
    pending.current[what] = setTimeout(() => {
      pending.current[what] = undefined;
      void run();
    }, ms);
  };

  useEffect(() => {
    matches.current = new Map();
    const stop = followIncident(
      api,
      incidentId,
      {
        onChanges(changes, upToDate) {
          for (const c of changes) matches.current.set(c.matchId, { taskId: c.taskId, state: c.state });
          if (changes.length) {
            setMatchesVersion((v) => v + 1);
            setFeed((list) => [...changes.slice(-FEED_LENGTH).reverse(), ...list].slice(0, FEED_LENGTH));
            const at = toDate(changes[changes.length - 1].changedAt);
            if (at) setLastChange(at);
            if (upToDate) {
              soon("summary", loadSummary, 150);
              if (changes.some((c) => !knownTasks.current.has(c.taskId))) soon("tasks", loadTasks, 150);
            }
          }
          if (upToDate) setCaughtUp(true);
        },
        onMode: setMode,
        onReset() {
          matches.current = new Map();
          setFeed([]);
          setCaughtUp(false);
          setMatchesVersion((v) => v + 1);
        },
        onFatal: (e) => props.onAuthError(e),
      },
      { pollOnly: params().pollOnly },
    );
    return () => {
      stop();
      clearTimeout(pending.current.summary);
      clearTimeout(pending.current.tasks);
    };
  }, [api, incidentId]);

  const counts = useMemo(() => {
    const out = new Map<string, Counts>();
    for (const { taskId, state } of matches.current.values()) {
      const c = out.get(taskId) ?? { offered: 0, accepted: 0, checkedIn: 0 };
      if (countsAsOffered(state)) c.offered++;
      if (countsAsAccepted(state)) c.accepted++;
      if (countsAsCheckedIn(state)) c.checkedIn++;
      out.set(taskId, c);
    }
    return out;
  }, [matchesVersion]);

  const countsOf = (task: Task): Counts =>
    caughtUp
      ? (counts.get(task.taskId) ?? { offered: 0, accepted: 0, checkedIn: 0 })
      : { offered: task.offeredCount, accepted: task.acceptedCount, checkedIn: task.checkedInCount };

  const titles = useMemo(() => new Map((tasks ?? []).map((x) => [x.taskId, x.title])), [tasks]);
  const visible = (tasks ?? []).filter((x) => showFinished || !isTaskFinished(x.status));

  const mapTasks: MapTask[] = (tasks ?? [])
    .filter((x) => !isTaskFinished(x.status) && x.meetingPoint)
    .map((x) => ({
      id: x.taskId,
      title: x.title,
      latitude: x.meetingPoint!.latitude,
      longitude: x.meetingPoint!.longitude,
      colour: PRIORITY_COLOUR[x.priority],
      staffed: countsOf(x).accepted >= x.headcount,
      needed: x.headcount,
    }));

  return (
    <div class="board">
      <Summary
        t={t}
        locale={locale}
        summary={summary && (caughtUp && tasks ? derive(summary, tasks, countsOf, lastChange) : fromServer(summary))}
      />
      <section class="board__map card" aria-labelledby="map-heading">
        <h2 id="map-heading">{t("map.title")}</h2>
        <TaskMapView
          t={t}
          config={props.config}
          interactive={!wall}
          tasks={mapTasks}
          region={incident.regionCentre ? { latitude: incident.regionCentre.latitude, longitude: incident.regionCentre.longitude, radiusKm: incident.regionRadiusKm } : null}
        />
      </section>
      <section class="board__tasks card" aria-labelledby="tasks-heading">
        <div class="row">
          <h2 id="tasks-heading">{t("tasks.title")}</h2>
          <span class="spacer" />
          {!wall && (
            <label class="check">
              <input type="checkbox" checked={showFinished} onChange={(e) => setShowFinished((e.target as HTMLInputElement).checked)} />{" "}
              {t("tasks.showFinished")}
            </label>
          )}
        </div>
        {tasks === null && <p>{t("common.loading")}</p>}
        {tasks?.length === 0 && <p>{t("tasks.empty")}</p>}
        <ul class="dtasks">
          {visible.map((task) => {
            const c = countsOf(task);
            const short = c.accepted < task.headcount;
            const share = task.headcount ? Math.min(1, c.accepted / task.headcount) : 1;
            const label = t("tasks.staffingLabel", { accepted: c.accepted, needed: task.headcount, offered: c.offered, checkedIn: c.checkedIn });
            return (
              <li
                key={task.taskId}
                class={`dtask dtask--${PRIORITY_NAME[task.priority]} ${short ? "dtask--short" : "dtask--staffed"}${isTaskFinished(task.status) ? " dtask--finished" : ""}`}
                data-task-id={task.taskId}
              >
                <span class={`badge badge--${PRIORITY_NAME[task.priority]}`}>{t(`priority.${task.priority}` as "priority.1")}</span>
                <span class="dtask__title">{task.title}</span>
                <span class="status">{t(`taskStatus.${liveStatus(task, c)}` as "taskStatus.1")}</span>
                <span class="dtask__when hint">{formatWindow(toDate(task.window?.startTime), toDate(task.window?.endTime), locale)}</span>
                <span class="dtask__staffing" title={label}>
                  <span class="visually-hidden">{label}</span>
                  <span aria-hidden="true" class="dtask__numbers" data-accepted={c.accepted} data-needed={task.headcount} data-checked-in={c.checkedIn}>
                    {t("tasks.staffing", { accepted: c.accepted, needed: task.headcount })}
                  </span>
                  <span class="bar" aria-hidden="true">
                    <span class={`bar__fill${short ? " bar__fill--short" : ""}`} style={{ inlineSize: `${share * 100}%` }} />
                  </span>
                </span>
                {task.status !== TaskStatus.CANCELLED && (c.offered > 0 || c.checkedIn > 0) && (
                  <span class="dtask__offered hint">
                    {c.offered > 0 && `${t("staffing.offered")}: ${c.offered}`}
                    {c.offered > 0 && c.checkedIn > 0 && " · "}
                    {c.checkedIn > 0 && `${t("staffing.checkedIn")}: ${c.checkedIn}`}
                  </span>
                )}
              </li>
            );
          })}
        </ul>
      </section>
      <section class="board__feed card" aria-labelledby="feed-heading">
        <div class="row">
          <h2 id="feed-heading">{t("feed.title")}</h2>
          <span class={`feed-mode feed-mode--${mode}`} data-mode={mode}>
            {mode === "stream" ? t("feed.stream") : mode === "polling" ? t("feed.polling") : mode === "ended" ? t("feed.ended") : t("feed.connecting")}
          </span>
        </div>
        {lastChange && <p class="hint">{t("feed.lastChange", { time: formatTime(lastChange, locale) })}</p>}
        {feed.length === 0 && <p class="hint">{t("feed.empty")}</p>}
        <ol class="feed">
          {feed.map((c) => (
            <li key={String(c.sequence)} class={`feed__item feed__item--${MatchState[c.state].toLowerCase()}`} data-sequence={String(c.sequence)}>
              <span class="feed__time">{formatTime(toDate(c.changedAt), locale)}</span>{" "}
              <span class="feed__task">{titles.get(c.taskId) ?? t("feed.unknownTask")}</span>{" "}
              <span class="feed__what">
                {t("feed.change", {
                  ref: c.volunteerRef,
                  from: t(`matchState.${c.previousState}` as "matchState.1"),
                  to: t(`matchState.${c.state}` as "matchState.1"),
                })}
              </span>
            </li>
          ))}
        </ol>
      </section>
    </div>
  );
}

function Summary({ t, locale, summary }: { t: T; locale: Locale; summary: SummaryView | null }) {
  if (!summary) return <section class="board__summary card"><p>{t("common.loading")}</p></section>;
  const tile = (label: string, value: number, name: string) => (
    <div class={`tile tile--${name}`}>
      <dt>{label}</dt>
      <dd data-total={name}>{value}</dd>
    </div>
  );
  return (
    <section class="board__summary card" aria-labelledby="summary-heading">
      <div class="row">
        <h2 id="summary-heading">{t("summary.title")}</h2>
        <span class="hint">{t("summary.asOf", { time: formatTime(summary.asOf, locale) })}</span>
      </div>
      <dl class="tiles">
        {tile(t("summary.needed"), summary.needed, "needed")}
        {tile(t("summary.accepted"), summary.accepted, "accepted")}
        {tile(t("summary.offered"), summary.offered, "offered")}
        {tile(t("summary.checkedIn"), summary.checkedIn, "checked-in")}
        {tile(t("summary.available"), summary.availableVolunteers, "available")}
      </dl>
      {summary.coverage.length === 0 ? (
        <p class="hint">{t("summary.empty")}</p>
      ) : (
        <table class="coverage">
          <thead>
            <tr>
              <th scope="col">{t("summary.priority")}</th>
              <th scope="col">{t("summary.tasks")}</th>
              <th scope="col">{t("summary.accepted")}</th>
              <th scope="col">{t("summary.coverage")}</th>
            </tr>
          </thead>
          <tbody>
            {summary.coverage.map((p) => (
              <tr key={p.priority} data-priority={PRIORITY_NAME[p.priority]}>
                <th scope="row">
                  <span class={`badge badge--${PRIORITY_NAME[p.priority]}`}>{t(`priority.${p.priority}` as "priority.1")}</span>
                </th>
                <td>{t("summary.tasksOf", { staffed: p.staffedTaskCount, total: p.taskCount })}</td>
                <td>
                  {p.accepted} / {p.needed}
                </td>
                <td>
                  <span class="coverage__value">{formatPercent(p.coverage, locale)}</span>
                  <span class="bar" aria-hidden="true">
                    <span class={`bar__fill${p.coverage < 1 ? " bar__fill--short" : ""}`} style={{ inlineSize: `${p.coverage * 100}%` }} />
                  </span>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function TaskMapView(props: {
  t: T;
  config: AppConfig;
  interactive: boolean;
  tasks: MapTask[];
  region: { latitude: number; longitude: number; radiusKm: number } | null;
}) {
  const { t } = props;
  const container = useRef<HTMLDivElement>(null);
  const map = useRef<TaskMap | null>(null);
  const [status, setStatus] = useState<"loading" | "ready" | string>("loading");
  const latest = useRef(props);
  latest.current = props;

  useEffect(
    () =>
      mountMap(
        map,
        container,
        () => import("./map"),
        ({ createTaskMap }, element) => {
          const created = createTaskMap(element, props.config.map, { interactive: props.interactive, label: t("map.label") });
          created.update(latest.current.tasks, latest.current.region);
          return created;
        },
        setStatus,
      ),
    [props.interactive],
  );

  const key = JSON.stringify([props.tasks, props.region]);
  useEffect(() => {
    map.current?.update(props.tasks, props.region);
  }, [key]);

  return (
    <div class="map-wrap">
      <div ref={container} class="map" data-status={status} />
      {status === "loading" && <p class="map__status">{t("map.loading")}</p>}
      {status !== "loading" && status !== "ready" && (
        <p class="map__status" role="alert">
          {t("map.failed", { message: status })}
        </p>
      )}
      <ul class="legend" aria-label={t("map.legend")}>
        {[1, 2, 3, 4].map((p) => (
          <li key={p}>
            <span class={`legend__dot legend__dot--${PRIORITY_NAME[p as 1]}`} aria-hidden="true" />
            {t(`priority.${p}` as "priority.1")}
          </li>
        ))}
        <li>
          <span class="legend__dot legend__dot--staffed" aria-hidden="true" />
          {t("map.staffed")}
        </li>
        <li>{t("map.short")}</li>
      </ul>
    </div>
  );
}

render(<App />, document.getElementById("app")!);
