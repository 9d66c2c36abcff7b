// Creating and editing a task. A new task is sent with an idempotency key (a retry after no
// answer returns the same task); an edit sends only the changed fields in update_mask with the
// version last read, so a concurrent change is refused (ABORTED) rather than overwritten.
import { Code } from "@connectrpc/connect";
import { useMemo, useState } from "preact/hooks";
import { Priority } from "../gen/spontan/v1/common_pb";
import type { Skill } from "../gen/spontan/v1/common_pb";
import type { Task } from "../gen/spontan/v1/task_pb";
import { code, fieldViolations } from "../lib/errors";
import { fingerprint, fromLocalInput, PRIORITIES, toDate, toLocalInput, toTimestamp } from "../shared-staff/format";
import { IdempotencyKeys } from "../shared-staff/ids";
import type { ConsoleProps } from "./incidents";
import { describe, placeViolations, type Placed } from "./violations";
import { ErrorNotice, ErrorSummary, Field, FormActions, numberValue, uint32 } from "./ui";
import { FieldError } from "../shared-staff/components";
import type { MapRegion } from "../shared-staff/basemap";
import { MapPicker } from "./mappicker";
import { explainViolation } from "./servertext";
import { COMMON_LANGUAGES, languageName } from "./languages";
import { addTyped, LanguagePicker, languageOptions, type LanguageChoice } from "./languagepicker";

type SkillChoice = "required" | "preferred";

interface FormState {
  title: string;
  description: string;
  priority: string;
  headcount: string;
  start: string;
  end: string;
  lat: string;
  lon: string;
  address: string;
  skills: Record<string, SkillChoice>;
  /** Tag → required or preferred, in the order chosen (the order sent). */
  languages: Record<string, LanguageChoice>;
  minAge: string;
  maxDistance: string;
  safetyNotes: string;
}

function initialState(task: Task | undefined, defaults: { lat?: number; lon?: number }): FormState {
  if (task) {
    const skills: Record<string, SkillChoice> = {};
    for (const id of task.requiredSkillIds) skills[id] = "required";
    for (const id of task.preferredSkillIds) skills[id] = "preferred";
    const languages: Record<string, LanguageChoice> = {};
    for (const tag of task.requiredLanguages) languages[tag] = "required";
    for (const tag of task.preferredLanguages) languages[tag] = "preferred";
    const start = toDate(task.window?.startTime);
    const end = toDate(task.window?.endTime);
    return {
      title: task.title,
      description: task.description,
      priority: String(task.priority),
      headcount: String(task.headcount),
      start: start ? toLocalInput(start) : "",
      end: end ? toLocalInput(end) : "",
      lat: String(task.meetingPoint?.latitude ?? ""),
      lon: String(task.meetingPoint?.longitude ?? ""),
      address: task.address,
      skills,
      languages,
      minAge: String(task.minAge),
      maxDistance: String(task.maxDistanceKm),
      safetyNotes: task.safetyNotes,
    };
  }
  const now = new Date();
  now.setSeconds(0, 0);
  return {
    title: "",
    description: "",
    priority: String(Priority.MEDIUM),
    headcount: "1",
    start: toLocalInput(now),
    end: toLocalInput(new Date(now.getTime() + 4 * 3600 * 1000)),
    lat: defaults.lat === undefined ? "" : String(defaults.lat),
    lon: defaults.lon === undefined ? "" : String(defaults.lon),
    address: "",
    skills: {},
    languages: {},
    minAge: "0",
    maxDistance: "0",
    safetyNotes: "",
  };
}

/** The task fields the form describes, as the wire wants them. */
function taskFields(s: FormState) {
  const start = fromLocalInput(s.start);
  const end = fromLocalInput(s.end);
  return {
    title: s.title,
    description: s.description,
    meetingPoint: { latitude: numberValue(s.lat), longitude: numberValue(s.lon) },
    address: s.address,
    requiredSkillIds: Object.keys(s.skills).filter((id) => s.skills[id] === "required"),
    preferredSkillIds: Object.keys(s.skills).filter((id) => s.skills[id] === "preferred"),
    requiredLanguages: Object.keys(s.languages).filter((tag) => s.languages[tag] === "required"),
    preferredLanguages: Object.keys(s.languages).filter((tag) => s.languages[tag] === "preferred"),
    minAge: uint32(s.minAge),
    headcount: uint32(s.headcount),
    window: { startTime: start && toTimestamp(start), endTime: end && toTimestamp(end) },
    priority: Number(s.priority) as Priority,
    maxDistanceKm: numberValue(s.maxDistance),
    safetyNotes: s.safetyNotes,
  };
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

/** update_mask paths of the fields that differ from the task as read. */
function changedPaths(before: FormState, after: FormState): string[] {
  const paths: string[] = [];
  const a = taskFields(before);
  const b = taskFields(after);
  if (before.title !== after.title) paths.push("title");
  if (before.description !== after.description) paths.push("description");
  if (before.lat !== after.lat || before.lon !== after.lon) paths.push("meeting_point");
  if (before.address !== after.address) paths.push("address");
  if (!sameList(a.requiredSkillIds, b.requiredSkillIds)) paths.push("required_skill_ids");
  if (!sameList(a.preferredSkillIds, b.preferredSkillIds)) paths.push("preferred_skill_ids");
  if (!sameList(a.requiredLanguages, b.requiredLanguages)) paths.push("required_languages");
  if (!sameList(a.preferredLanguages, b.preferredLanguages)) paths.push("preferred_languages");
  if (before.minAge !== after.minAge) paths.push("min_age");
  if (before.headcount !== after.headcount) paths.push("headcount");
  if (before.start !== after.start || before.end !== after.end) paths.push("window");
  if (before.priority !== after.priority) paths.push("priority");
  if (before.maxDistance !== after.maxDistance) paths.push("max_distance_km");
  if (before.safetyNotes !== after.safetyNotes) paths.push("safety_notes");
  return paths;
}

/** The task's languages that are not among the common ones (offered in the lists too). */
const customLanguages = (task: Task | undefined) =>
  task ? [...task.requiredLanguages, ...task.preferredLanguages].filter((tag) => !COMMON_LANGUAGES.includes(tag)) : [];

const NO_LANGUAGES: Record<LanguageChoice, string> = { required: "", preferred: "" };

export function TaskForm(
  props: ConsoleProps & {
    incidentId: string;
    task?: Task;
    skills: Skill[] | null;
    defaultPoint: { lat?: number; lon?: number };
    /** The incident's region, drawn on the map for orientation. */
    region: MapRegion | null;
    onDone: (task: Task | null, notice: string) => void;
    onCancel: () => void;
  },
) {
  const { t, api, locale, skills } = props;
  const keys = useMemo(() => new IdempotencyKeys(), []);
  const [base, setBase] = useState<Task | undefined>(props.task);
  const [state, setState] = useState<FormState>(() => initialState(props.task, props.defaultPoint));
  const [busy, setBusy] = useState(false);
  const [placed, setPlaced] = useState<Placed | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  /** Tags added by hand (kept in the lists when unticked again). */
  const [extraLanguages, setExtraLanguages] = useState<string[]>(() => customLanguages(props.task));
  /** What is typed in each list's "another language" field. */
  const [otherLanguage, setOtherLanguage] = useState<Record<LanguageChoice, string>>(NO_LANGUAGES);
  /** Tags the server refused, per list. */
  const [invalidLanguages, setInvalidLanguages] = useState<Record<LanguageChoice, Set<string>>>({ required: new Set(), preferred: new Set() });
  const editing = !!base;
  const prefix = editing ? "task-edit" : "task-new";
  const id = (name: string) => `${prefix}-${name}`;

  const set = (name: keyof FormState) => (e: Event) => {
    const value = (e.target as HTMLInputElement).value;
    setState((s) => ({ ...s, [name]: value }));
  };

  const skillLabel = (skill: Skill) => (locale === "de" ? skill.labelDe : skill.labelEn);
  const skillName = (skillId: string) => {
    const skill = skills?.find((s) => s.id === skillId);
    return skill ? skillLabel(skill) : skillId;
  };

  const inputs: Record<string, [string, string[]]> = {
    [id("title")]: [t("taskForm.title"), ["title"]],
    [id("description")]: [t("taskForm.description"), ["description"]],
    [id("priority")]: [t("taskForm.priority"), ["priority"]],
    [id("headcount")]: [t("taskForm.headcount"), ["headcount"]],
    [id("start")]: [t("taskForm.start"), ["window", "window.start_time"]],
    [id("end")]: [t("taskForm.end"), ["window.end_time"]],
    [id("lat")]: [t("taskForm.latitude"), ["meeting_point", "meeting_point.latitude"]],
    [id("lon")]: [t("taskForm.longitude"), ["meeting_point.longitude"]],
    [id("address")]: [t("taskForm.address"), ["address"]],
    [id("skills")]: [t("taskForm.skills"), ["required_skill_ids", "preferred_skill_ids"]],
    [id("required-languages")]: [t("taskForm.requiredLanguages"), ["required_languages"]],
    [id("preferred-languages")]: [t("taskForm.preferredLanguages"), ["preferred_languages"]],
    [id("min-age")]: [t("taskForm.minAge"), ["min_age"]],
    [id("max-distance")]: [t("taskForm.maxDistance"), ["max_distance_km"]],
    [id("safety-notes")]: [t("taskForm.safetyNotes"), ["safety_notes"]],
  };

  /** The tag a language violation's path names (`required_languages[1]`), with its list. */
  const languageOf = (fields: ReturnType<typeof taskFields>, path: string): [LanguageChoice, string] | undefined => {
    const m = /(required|preferred)_languages\[(\d+)\]$/.exec(path);
    if (!m) return undefined;
    const kind = m[1] as LanguageChoice;
    const tag = (kind === "required" ? fields.requiredLanguages : fields.preferredLanguages)[Number(m[2])];
    return tag === undefined ? undefined : [kind, tag];
  };

  /** In the console's words; skill and language violations name an index: say which it was. */
  const explain = (fields: ReturnType<typeof taskFields>) => (path: string, description: string) => {
    const problem = explainViolation(t, locale, description);
    const m = /(required_skill_ids|preferred_skill_ids)\[(\d+)\]$/.exec(path);
    const list = m?.[1] === "required_skill_ids" ? fields.requiredSkillIds : fields.preferredSkillIds;
    const skillId = m ? list[Number(m[2])] : undefined;
    if (skillId) return { ...problem, text: `${skillName(skillId)}: ${problem.text}` };
    const language = languageOf(fields, path);
    return language ? { ...problem, text: `${languageName(language[1], locale)}: ${problem.text}` } : problem;
  };

  const fail = (err: unknown, fields: ReturnType<typeof taskFields>) => {
    if (props.onAuthError(err)) return;
    const violations = fieldViolations(err);
    if (code(err) === Code.InvalidArgument && Object.keys(violations).length) {
      setPlaced(placeViolations(violations, inputs, editing ? "task." : "", explain(fields)));
      const invalid: Record<LanguageChoice, Set<string>> = { required: new Set(), preferred: new Set() };
      for (const path of Object.keys(violations)) {
        const language = languageOf(fields, editing ? path.replace(/^task\./, "") : path);
        if (language) invalid[language[0]].add(language[1]);
      }
      setInvalidLanguages(invalid);
    } else {
      setError(err);
    }
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setPlaced(null);
    setError(null);
    setNotice(null);
    setInvalidLanguages({ required: new Set(), preferred: new Set() });
    // A tag typed but not yet added is meant too.
    let current = state;
    for (const kind of ["required", "preferred"] as const) {
      const added = addTyped(current.languages, languages, kind, otherLanguage[kind]);
      if (added.tag) {
        current = { ...current, languages: added.chosen };
        rememberLanguage(added.tag);
      }
    }
    if (current !== state) {
      setState(current);
      setOtherLanguage(NO_LANGUAGES);
    }
    const fields = taskFields(current);
    try {
      if (!base) {
        const request = { incidentId: props.incidentId, ...fields };
        const response = await api.task.createTask({ ...request, idempotencyKey: keys.for(fingerprint(request)) });
        keys.reset();
        props.onDone(response.task!, t("task.created", { title: response.task!.title }));
      } else {
        const paths = changedPaths(initialState(base, {}), current);
        if (paths.length === 0) {
          props.onDone(null, t("task.unchanged"));
          return;
        }
        const response = await api.task.updateTask({
          task: { taskId: base.taskId, ...fields },
          updateMask: { paths },
          expectedVersion: base.version,
        });
        props.onDone(response.task!, t("task.saved", { title: response.task!.title }));
      }
    } catch (err) {
      if (base && code(err) === Code.Aborted) {
        try {
          const fresh = (await api.task.getTask({ taskId: base.taskId })).task!;
          setBase(fresh);
          setState(initialState(fresh, {}));
          setExtraLanguages((extra) => [...extra, ...customLanguages(fresh).filter((tag) => !extra.includes(tag))]);
          setNotice(t("task.stale"));
        } catch (again) {
          fail(again, fields);
        }
      } else {
        fail(err, fields);
      }
    } finally {
      setBusy(false);
    }
  };

  const languages = languageOptions(locale, extraLanguages, state.languages);
  const rememberLanguage = (tag: string) => {
    if (!COMMON_LANGUAGES.includes(tag)) setExtraLanguages((extra) => (extra.includes(tag) ? extra : [...extra, tag]));
  };
  const addLanguage = (kind: LanguageChoice) => {
    const added = addTyped(state.languages, languages, kind, otherLanguage[kind]);
    if (!added.tag) return;
    rememberLanguage(added.tag);
    setState((s) => ({ ...s, languages: { ...s.languages, [added.tag!]: kind } }));
    setOtherLanguage((o) => ({ ...o, [kind]: "" }));
  };
  const toggleLanguage = (kind: LanguageChoice) => (tag: string, on: boolean) =>
    setState((s) => {
      const next = { ...s.languages };
      if (on) next[tag] = kind;
      else if (next[tag] === kind) delete next[tag];
      return { ...s, languages: next };
    });
  const chosenLanguages = (kind: LanguageChoice) =>
    Object.keys(state.languages)
      .filter((tag) => state.languages[tag] === kind)
      .map((tag) => languageName(tag, locale))
      .join(", ");
  const languagePicker = (kind: LanguageChoice) => (
    <LanguagePicker
      t={t}
      locale={locale}
      id={id(`${kind}-languages`)}
      kind={kind}
      legend={t(kind === "required" ? "taskForm.requiredLanguages" : "taskForm.preferredLanguages")}
      hint={t(kind === "required" ? "taskForm.requiredLanguagesHint" : "taskForm.preferredLanguagesHint")}
      options={languages}
      chosen={state.languages}
      invalid={invalidLanguages[kind]}
      placed={placed}
      other={otherLanguage[kind]}
      onOther={(text) => setOtherLanguage((o) => ({ ...o, [kind]: text }))}
      onToggle={toggleLanguage(kind)}
      onAdd={() => addLanguage(kind)}
    />
  );

  const chosenNames = (kind: SkillChoice) =>
    Object.keys(state.skills)
      .filter((skillId) => state.skills[skillId] === kind)
      .map(skillName)
      .join(", ");
  const byCategory = new Map<string, Skill[]>();
  for (const skill of skills ?? []) {
    const list = byCategory.get(skill.category) ?? [];
    list.push(skill);
    byCategory.set(skill.category, list);
  }

  const input = (name: string, extra: Record<string, unknown>, key: keyof FormState, hint = false) => (
    <input id={id(name)} name={name} value={state[key] as string} onInput={set(key)} {...extra} {...describe(placed, id(name), hint)} />
  );

  return (
    <section class="card task-form" aria-labelledby={id("heading")}>
      <h2 id={id("heading")}>{base ? t("taskForm.editTitle", { title: base.title }) : t("taskForm.newTitle")}</h2>
      <form onSubmit={submit}>
        <ErrorSummary t={t} placed={placed} />
        <ErrorNotice t={t} error={error} />
        {notice && (
          <p class="notice notice--warn" role="alert">
            {notice}
          </p>
        )}
        <Field t={t} id={id("title")} label={t("taskForm.title")} hint={t("taskForm.titleHint")} placed={placed}>
          {input("title", { required: true, maxLength: 120 }, "title", true)}
        </Field>
        <Field t={t} id={id("description")} label={t("taskForm.description")} placed={placed}>
          <textarea
            id={id("description")}
            maxLength={4000}
            value={state.description}
            onInput={set("description")}
            {...describe(placed, id("description"))}
          />
        </Field>
        <div class="grid-2">
          <Field t={t} id={id("priority")} label={t("taskForm.priority")} placed={placed}>
            <select id={id("priority")} value={state.priority} onChange={set("priority")} {...describe(placed, id("priority"))}>
              {PRIORITIES.map((p) => (
                <option key={p} value={String(p)}>
                  {t(`priority.${p}` as "priority.1")}
                </option>
              ))}
            </select>
          </Field>
          <Field t={t} id={id("headcount")} label={t("taskForm.headcount")} placed={placed}>
            {input("headcount", { type: "number", min: 1, max: 500, step: 1, required: true, inputMode: "numeric" }, "headcount")}
          </Field>
        </div>
        <fieldset>
          <legend>{t("taskForm.window")}</legend>
          <div class="grid-2">
            <Field t={t} id={id("start")} label={t("taskForm.start")} placed={placed}>
              {input("start", { type: "datetime-local", required: true }, "start")}
            </Field>
            <Field t={t} id={id("end")} label={t("taskForm.end")} placed={placed}>
              {input("end", { type: "datetime-local", required: true }, "end")}
            </Field>
          </div>
        </fieldset>
        <fieldset>
          <legend>{t("taskForm.meetingPoint")}</legend>
          <MapPicker
            t={t}
            locale={locale}
            config={props.mapConfig}
            id={prefix}
            what={t("taskForm.meetingPointOnMap")}
            lat={state.lat}
            lon={state.lon}
            region={props.region}
            onPick={(lat, lon) => setState((s) => ({ ...s, lat, lon }))}
          />
          <div class="grid-2">
            <Field t={t} id={id("lat")} label={t("taskForm.latitude")} placed={placed}>
              {input("lat", { type: "number", step: "any", required: true, inputMode: "decimal" }, "lat")}
            </Field>
            <Field t={t} id={id("lon")} label={t("taskForm.longitude")} placed={placed}>
              {input("lon", { type: "number", step: "any", required: true, inputMode: "decimal" }, "lon")}
            </Field>
          </div>
          <Field t={t} id={id("address")} label={t("taskForm.address")} hint={t("taskForm.addressHint")} placed={placed}>
            {input("address", { required: true, maxLength: 300 }, "address", true)}
          </Field>
        </fieldset>
        <fieldset
          id={id("skills")}
          tabIndex={-1}
          aria-describedby={`${id("skills")}-hint${placed?.byInput[id("skills")] ? ` ${id("skills")}-error` : ""}`}
        >
          <legend>{t("taskForm.skills")}</legend>
          <p id={`${id("skills")}-hint`} class="hint">
            {t("taskForm.skillsHint")}
          </p>
          <p class="skills__chosen" aria-live="polite">
            {t("taskForm.skillsChosen", {
              required: chosenNames("required") || t("tasks.none"),
              preferred: chosenNames("preferred") || t("tasks.none"),
            })}
          </p>
          <FieldError id={`${id("skills")}-error`} errors={placed?.byInput[id("skills")]} detailLabel={t("common.serverSaid")} />
          {!skills && <p>{t("taskForm.skillsLoading")}</p>}
          <div class="skills">
            {[...byCategory].map(([category, list]) => (
              <div key={category} class="skills__group">
                {list.map((skill) => {
                  const skillInput = `${id("skill")}-${skill.id}`;
                  return (
                    <div key={skill.id} class="skills__item">
                      <label for={skillInput}>{skillLabel(skill)}</label>
                      <select
                        id={skillInput}
                        value={state.skills[skill.id] ?? ""}
                        data-skill={skill.id}
                        onChange={(e) => {
                          const value = (e.target as HTMLSelectElement).value as SkillChoice | "";
                          setState((s) => {
                            const next = { ...s.skills };
                            if (value) next[skill.id] = value;
                            else delete next[skill.id];
                            return { ...s, skills: next };
                          });
                        }}
                      >
                        <option value="">{t("taskForm.skillNone")}</option>
                        <option value="required">{t("taskForm.skillRequired")}</option>
                        <option value="preferred">{t("taskForm.skillPreferred")}</option>
                      </select>
                    </div>
                  );
                })}
              </div>
            ))}
          </div>
        </fieldset>
        <div class="languages-block">
          <p class="skills__chosen" aria-live="polite">
            {t("taskForm.languagesChosen", {
              required: chosenLanguages("required") || t("tasks.none"),
              preferred: chosenLanguages("preferred") || t("tasks.none"),
            })}
          </p>
          {languagePicker("required")}
          {languagePicker("preferred")}
        </div>
        <div class="grid-2">
          <Field t={t} id={id("min-age")} label={t("taskForm.minAge")} hint={t("taskForm.minAgeHint")} placed={placed}>
            {input("min-age", { type: "number", min: 0, max: 99, step: 1, inputMode: "numeric" }, "minAge", true)}
          </Field>
          <Field t={t} id={id("max-distance")} label={t("taskForm.maxDistance")} hint={t("taskForm.maxDistanceHint")} placed={placed}>
            {input("max-distance", { type: "number", min: 0, max: 200, step: "any", inputMode: "decimal" }, "maxDistance", true)}
          </Field>
        </div>
        <Field t={t} id={id("safety-notes")} label={t("taskForm.safetyNotes")} placed={placed}>
          <textarea
            id={id("safety-notes")}
            maxLength={2000}
            value={state.safetyNotes}
            onInput={set("safetyNotes")}
            {...describe(placed, id("safety-notes"))}
          />
        </Field>
        <FormActions t={t} label={base ? t("taskForm.save") : t("taskForm.create")} busy={busy} onCancel={props.onCancel} />
      </form>
    </section>
  );
}
