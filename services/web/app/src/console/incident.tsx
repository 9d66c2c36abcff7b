// One incident: its tasks with live staffing, creating and changing tasks, closing the
// incident, the optimiser, messages to its volunteers (messaging.tsx); for admins a link to
// its audit trail (audit.tsx).
import { useEffect, useState } from "preact/hooks";
import { IncidentStatus, TaskStatus, type Skill } from "../gen/spontan/v1/common_pb";
import type { GetTaskStaffingResponse } from "../gen/spontan/v1/matching_pb";
import type { Incident, Task } from "../gen/spontan/v1/task_pb";
import { formatNumber, formatWindow, isTaskFinished, PRIORITY_NAME, toDate } from "../shared-staff/format";
import { usePolling } from "../shared-staff/hooks";
import type { ConsoleProps } from "./incidents";
import { CheckInCode } from "./checkincode";
import { languageName } from "./languages";
import { VolunteerMessages } from "./messaging";
import { Optimise } from "./optimise";
import { Matches } from "./staffing";
import { TaskForm } from "./taskform";
import { ErrorNotice, OkNotice } from "./ui";

const REFRESH_MS = 5000;

export async function listAllTasks(props: ConsoleProps, incidentId: string): Promise<Task[]> {
  const out: Task[] = [];
  let pageToken = "";
  for (let page = 0; page < 20; page++) {
    const response = await props.api.task.listTasks({ incidentId, pageSize: 200, pageToken });
    out.push(...response.tasks);
    pageToken = response.nextPageToken;
    if (!pageToken) break;
  }
  return out;
}

export function IncidentPage(props: ConsoleProps & { incidentId: string }) {
  const { t, api, locale, incidentId } = props;
  const [incident, setIncident] = useState<Incident | null>(null);
  const [tasks, setTasks] = useState<Task[] | null>(null);
  const [skills, setSkills] = useState<Skill[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [form, setForm] = useState<{ task?: Task } | null>(null);
  const [confirmClose, setConfirmClose] = useState(false);
  const [open, setOpen] = useState<Set<string>>(new Set());

  useEffect(() => {
    api.task.getIncident({ incidentId }).then(
      (r) => setIncident(r.incident ?? null),
      (e: unknown) => props.onAuthError(e) || setError(e),
    );
    api.registration.listSkills({}).then(
      (r) => setSkills(r.skills),
      () => setSkills([]),
    );
  }, [api, incidentId]);

  const refresh = async () => {
    try {
      setTasks(await listAllTasks(props, incidentId));
      setError(null);
    } catch (e) {
      if (!props.onAuthError(e)) setError(e);
    }
  };
  usePolling(refresh, REFRESH_MS, [api, incidentId]);

  const replace = (task: Task) => setTasks((list) => list && list.map((x) => (x.taskId === task.taskId ? task : x)));

  const closeIncident = async () => {
    try {
      const response = await api.task.closeIncident({ incidentId });
      setIncident(response.incident ?? null);
      setConfirmClose(false);
      setNotice(t("incident.closed", { cancelled: response.cancelledTaskCount, completed: response.completedTaskCount }));
      void refresh();
    } catch (e) {
      if (!props.onAuthError(e)) setError(e);
    }
  };

  const isOpen = incident?.status === IncidentStatus.OPEN;
  const skillName = (id: string) => {
    const s = skills?.find((x) => x.id === id);
    return s ? (locale === "de" ? s.labelDe : s.labelEn) : id;
  };

  return (
    <main id="main" class="page">
      <p>
        <a
          href="./"
          onClick={(e) => {
            e.preventDefault();
            props.navigate(null);
          }}
        >
          ← {t("incident.back")}
        </a>
      </p>
      <div class="row">
        <h1>{incident?.name ?? t("common.loading")}</h1>
        {incident && <span class="status">{t(`incidentStatus.${incident.status}` as "incidentStatus.1")}</span>}
        <span class="spacer" />
        {props.isAdmin && (
          <a
            class="button button--quiet"
            href={`./?incident=${encodeURIComponent(incidentId)}&view=audit`}
            onClick={(e) => {
              e.preventDefault();
              props.navigate(incidentId, "audit");
            }}
          >
            {t("audit.link")}
          </a>
        )}
        {isOpen && !confirmClose && (
          <button type="button" class="button button--danger" onClick={() => setConfirmClose(true)}>
            {t("incident.close")}
          </button>
        )}
      </div>
      {incident?.description && <p>{incident.description}</p>}
      {confirmClose && incident && (
        <div class="notice notice--warn" role="alertdialog" aria-labelledby="close-confirm-text">
          <p id="close-confirm-text">{t("incident.closeConfirm", { name: incident.name })}</p>
          <div class="row">
            <button type="button" class="button button--danger button--primary" onClick={() => void closeIncident()}>
              {t("incident.closeYes")}
            </button>
            <button type="button" class="button button--quiet" onClick={() => setConfirmClose(false)}>
              {t("incident.closeNo")}
            </button>
          </div>
        </div>
      )}
      <OkNotice text={notice} />
      {incident && !isOpen && <p class="notice">{t("incident.isClosed")}</p>}
      <ErrorNotice t={t} error={error} />

      <div class="incident-layout">
        <section aria-labelledby="tasks-heading" class="incident-layout__tasks">
          <div class="row">
            <h2 id="tasks-heading">{t("tasks.title")}</h2>
            <span class="hint">{t("tasks.live")}</span>
            <span class="spacer" />
            {isOpen && !form && (
              <button type="button" class="button button--primary" onClick={() => setForm({})}>
                {t("tasks.new")}
              </button>
            )}
          </div>
          {form && (
            <TaskForm
              {...props}
              key={form.task?.taskId ?? "new"}
              incidentId={incidentId}
              task={form.task}
              skills={skills}
              defaultPoint={{ lat: incident?.regionCentre?.latitude, lon: incident?.regionCentre?.longitude }}
              region={
                incident?.regionCentre
                  ? { latitude: incident.regionCentre.latitude, longitude: incident.regionCentre.longitude, radiusKm: incident.regionRadiusKm }
                  : null
              }
              onCancel={() => setForm(null)}
              onDone={(task, message) => {
                setForm(null);
                setNotice(message);
                if (task) {
                  setTasks((list) => (list?.some((x) => x.taskId === task.taskId) ? list.map((x) => (x.taskId === task.taskId ? task : x)) : [...(list ?? []), task]));
                }
                void refresh();
              }}
            />
          )}
          {tasks === null && <p>{t("common.loading")}</p>}
          {tasks?.length === 0 && <p>{t("tasks.empty")}</p>}
          <ul class="task-list">
            {tasks?.map((task) => (
              <TaskCard
                key={task.taskId}
                {...props}
                task={task}
                expanded={open.has(task.taskId)}
                onToggle={() =>
                  setOpen((s) => {
                    const next = new Set(s);
                    if (!next.delete(task.taskId)) next.add(task.taskId);
                    return next;
                  })
                }
                onEdit={() => setForm({ task })}
                onChanged={(changed, message) => {
                  replace(changed);
                  setNotice(message);
                }}
                skillName={skillName}
              />
            ))}
          </ul>
        </section>
        {incident && (
          <aside class="incident-layout__side">
            {isOpen && <Optimise {...props} incidentId={incidentId} tasks={tasks} onApplied={() => void refresh()} />}
            <VolunteerMessages {...props} incidentId={incidentId} tasks={tasks} open={isOpen} />
          </aside>
        )}
      </div>
    </main>
  );
}

function Staffing({ t, offered, accepted, checkedIn, needed }: { t: ConsoleProps["t"]; offered: number; accepted: number; checkedIn: number; needed: number }) {
  const share = needed > 0 ? Math.min(1, accepted / needed) : 1;
  return (
    <div class="staffing-block">
      <dl class="staffing">
        <div>
          <dt>{t("staffing.offered")}</dt>
          <dd data-count="offered">{offered}</dd>
        </div>
        <div>
          <dt>{t("staffing.accepted")}</dt>
          <dd data-count="accepted">{accepted}</dd>
        </div>
        <div>
          <dt>{t("staffing.checkedIn")}</dt>
          <dd data-count="checked-in">{checkedIn}</dd>
        </div>
        <div>
          <dt>{t("staffing.needed")}</dt>
          <dd data-count="needed">{needed}</dd>
        </div>
      </dl>
      <div class="bar" aria-hidden="true">
        <div class={`bar__fill${share < 1 ? " bar__fill--short" : ""}`} style={{ inlineSize: `${share * 100}%` }} />
      </div>
    </div>
  );
}

function TaskCard(
  props: ConsoleProps & {
    task: Task;
    expanded: boolean;
    onToggle: () => void;
    onEdit: () => void;
    onChanged: (task: Task, message: string) => void;
    skillName: (id: string) => string;
  },
) {
  const { t, task, api, locale } = props;
  const [staffing, setStaffing] = useState<GetTaskStaffingResponse | null>(null);
  const [action, setAction] = useState<"cancel" | "complete" | null>(null);
  const [showCode, setShowCode] = useState(false);
  const [cancelReason, setCancelReason] = useState("");
  const [error, setError] = useState<unknown>(null);
  const finished = isTaskFinished(task.status);
  const detailsId = `task-${task.taskId}-details`;

  const loadStaffing = async () => {
    if (!props.expanded) return;
    try {
      setStaffing(await api.matching.getTaskStaffing({ taskId: task.taskId, includeFinished: true }));
    } catch (e) {
      if (!props.onAuthError(e)) setError(e);
    }
  };
  usePolling(loadStaffing, REFRESH_MS, [api, task.taskId, props.expanded]);

  const act = async (kind: "cancel" | "complete") => {
    setError(null);
    try {
      const response =
        kind === "cancel"
          ? await api.task.cancelTask({ taskId: task.taskId, reason: cancelReason })
          : await api.task.completeTask({ taskId: task.taskId });
      setAction(null);
      props.onChanged(response.task!, t("task.saved", { title: response.task!.title }));
    } catch (e) {
      if (!props.onAuthError(e)) setError(e);
    }
  };

  // The staffing snapshot from matching is fresher than the task's own counts (which follow
  // the match events): use it while the details are open.
  const counts = staffing && props.expanded
    ? { offered: staffing.offered, accepted: staffing.accepted, checkedIn: staffing.checkedIn, needed: staffing.needed }
    : { offered: task.offeredCount, accepted: task.acceptedCount, checkedIn: task.checkedInCount, needed: task.headcount };

  const start = toDate(task.window?.startTime);
  const end = toDate(task.window?.endTime);
  const priority = PRIORITY_NAME[task.priority];
  const titleId = `task-${task.taskId}-title`;

  return (
    <li class={`card task task--${priority}${finished ? " task--finished" : ""}`} data-task-id={task.taskId}>
      <div class="row">
        <span class={`badge badge--${priority}`}>{t(`priority.${task.priority}` as "priority.1")}</span>
        <h3 id={titleId} class="task__title">
          {task.title}
        </h3>
        <span class="status">{t(`taskStatus.${task.status}` as "taskStatus.1")}</span>
      </div>
      <p class="hint">
        {formatWindow(start, end, locale)} · {task.address}
      </p>
      {task.requiredLanguages.length > 0 && (
        <ul class="chips" aria-label={t("tasks.languagesRequired")}>
          {task.requiredLanguages.map((tag) => (
            <li key={tag} class="chip" data-language={tag}>
              {t("tasks.languageChip", { name: languageName(tag, locale) })}
            </li>
          ))}
        </ul>
      )}
      <Staffing t={t} {...counts} />
      {task.status === TaskStatus.CANCELLED && task.cancellationReason && (
        <p class="hint">{t("tasks.cancelledBecause", { reason: task.cancellationReason })}</p>
      )}
      <div class="row">
        <button type="button" class="button button--small" aria-expanded={props.expanded} aria-controls={detailsId} onClick={props.onToggle}>
          {props.expanded ? t("tasks.hideDetails") : t("tasks.details")}
        </button>
        {!finished && (
          <>
            <button type="button" class="button button--small" onClick={props.onEdit}>
              {t("task.edit")}
            </button>
            <button type="button" class="button button--small" onClick={() => setAction("complete")}>
              {t("task.complete")}
            </button>
            <button type="button" class="button button--small button--danger" onClick={() => setAction("cancel")}>
              {t("task.cancel")}
            </button>
          </>
        )}
      </div>
      {action === "cancel" && (
        <form
          class="notice notice--warn"
          onSubmit={(e) => {
            e.preventDefault();
            void act("cancel");
          }}
        >
          <div class="field">
            <label for={`cancel-${task.taskId}`}>{t("task.cancelReason")}</label>
            <input
              id={`cancel-${task.taskId}`}
              required
              maxLength={500}
              value={cancelReason}
              onInput={(e) => setCancelReason((e.target as HTMLInputElement).value)}
            />
          </div>
          <div class="row">
            <button type="submit" class="button button--danger button--primary">
              {t("task.cancelConfirm")}
            </button>
            <button type="button" class="button button--quiet" onClick={() => setAction(null)}>
              {t("task.cancelKeep")}
            </button>
          </div>
        </form>
      )}
      {action === "complete" && (
        <div class="notice notice--warn" role="alertdialog" aria-labelledby={`complete-${task.taskId}`}>
          <p id={`complete-${task.taskId}`}>{t("task.completeConfirm", { title: task.title })}</p>
          <div class="row">
            <button type="button" class="button button--primary" onClick={() => void act("complete")}>
              {t("task.completeYes")}
            </button>
            <button type="button" class="button button--quiet" onClick={() => setAction(null)}>
              {t("task.completeNo")}
            </button>
          </div>
        </div>
      )}
      <ErrorNotice t={t} error={error} />
      {props.expanded && (
        <div id={detailsId} class="task__details">
          <dl class="facts">
            {task.description && (
              <>
                <dt>{t("tasks.description")}</dt>
                <dd class="pre">{task.description}</dd>
              </>
            )}
            <dt>{t("tasks.address")}</dt>
            <dd>
              {task.address} ({formatNumber(task.meetingPoint?.latitude ?? 0, locale, 5)}, {formatNumber(task.meetingPoint?.longitude ?? 0, locale, 5)})
            </dd>
            <dt>{t("tasks.required")}</dt>
            <dd>{task.requiredSkillIds.map(props.skillName).join(", ") || t("tasks.none")}</dd>
            <dt>{t("tasks.preferred")}</dt>
            <dd>{task.preferredSkillIds.map(props.skillName).join(", ") || t("tasks.none")}</dd>
            <dt>{t("tasks.requiredLanguages")}</dt>
            <dd data-testid="required-languages">{task.requiredLanguages.map((tag) => languageName(tag, locale)).join(", ") || t("tasks.none")}</dd>
            <dt>{t("tasks.preferredLanguages")}</dt>
            <dd data-testid="preferred-languages">{task.preferredLanguages.map((tag) => languageName(tag, locale)).join(", ") || t("tasks.none")}</dd>
            <dt>{t("tasks.minAge")}</dt>
            <dd>{task.minAge || t("tasks.none")}</dd>
            <dt>{t("tasks.maxDistance")}</dt>
            <dd>{task.maxDistanceKm ? `${formatNumber(task.maxDistanceKm, locale, 1)} km` : t("tasks.noMaxDistance")}</dd>
            {task.safetyNotes && (
              <>
                <dt>{t("tasks.safety")}</dt>
                <dd class="pre">{task.safetyNotes}</dd>
              </>
            )}
          </dl>
          {!finished && (
            <div class="row">
              <button type="button" class="button button--small" aria-expanded={showCode} onClick={() => setShowCode(!showCode)}>
                {showCode ? t("checkin.hide") : t("checkin.show")}
              </button>
            </div>
          )}
          {!finished && showCode && <CheckInCode {...props} taskId={task.taskId} title={task.title} />}
          <h4 class="matches__heading">{t("staffing.matches")}</h4>
          <Matches {...props} staffing={staffing} onChanged={() => void loadStaffing()} />
        </div>
      )}
    </li>
  );
}
