// The batch optimiser as a plan: "Preview" makes a plan (a dry run of OptimizeIncident, with
// an optional move cost) and shows what it would change: objectives before and after, each
// new offer and each open offer withdrawn, and until when it can be applied. "Apply" applies
// exactly that plan (ApplyOptimizationPlan), all of it or nothing; when the incident changed
// meanwhile or the plan expired, the card says so and offers to plan again.
import { Code } from "@connectrpc/connect";
import { useEffect, useRef, useState } from "preact/hooks";
import type { Task } from "../gen/spontan/v1/task_pb";
import { PlanMoveKind, type OptimizationObjective, type OptimizeIncidentResponse, type PlanMove } from "../gen/spontan/v1/matching_pb";
import { code, fieldViolations, reason } from "../lib/errors";
import { formatNumber, formatPercent, formatTime, toDate } from "../shared-staff/format";
import type { ConsoleProps } from "./incidents";
import { explainViolation } from "./servertext";
import { ErrorNotice, Field, OkNotice, numberValue } from "./ui";
import { describe, placeViolations, type Placed } from "./violations";

const MOVE_COST_ID = "optimise-move-cost";
const MOVE_COST_MAX = 1000;

/** Why a plan can no longer be applied: ErrorInfo reasons of ApplyOptimizationPlan. */
type Outdated = "stale" | "expired";
const OUTDATED: Record<string, Outdated> = { PLAN_STALE: "stale", PLAN_EXPIRED: "expired" };

export function Optimise(props: ConsoleProps & { incidentId: string; tasks: Task[] | null; onApplied: () => void }) {
  const { t, api, locale } = props;
  const [moveCost, setMoveCost] = useState("");
  const [plan, setPlan] = useState<OptimizeIncidentResponse | null>(null);
  const [busy, setBusy] = useState<"plan" | "apply" | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [placed, setPlaced] = useState<Placed | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [outdated, setOutdated] = useState<Outdated | null>(null);
  const moveCostInput = useRef<HTMLInputElement>(null);
  const planAgainButton = useRef<HTMLButtonElement>(null);

  // The Apply button is gone once a plan is outdated: keep the keyboard at the way on.
  useEffect(() => {
    if (outdated) planAgainButton.current?.focus();
  }, [outdated]);

  const label = t("optimise.moveCost");
  const fieldProblem = (text: string, detail?: string): Placed => ({
    byInput: { [MOVE_COST_ID]: [{ text, detail }] },
    summary: [{ inputId: MOVE_COST_ID, label, problem: { text, detail } }],
  });

  const reset = () => {
    setError(null);
    setNotice(null);
    setPlaced(null);
    setOutdated(null);
  };

  const preview = async () => {
    reset();
    // Empty: the service's setting. Otherwise 0 to 1000 km, as the service checks.
    let moveCostKm: number | undefined;
    if (moveCost.trim() !== "" || moveCostInput.current?.validity.badInput) {
      const km = numberValue(moveCost);
      if (!Number.isFinite(km) || km < 0 || km > MOVE_COST_MAX || moveCostInput.current?.validity.badInput) {
        setPlaced(fieldProblem(t("violation.km", { min: formatNumber(0, locale), max: formatNumber(MOVE_COST_MAX, locale) })));
        moveCostInput.current?.focus();
        return;
      }
      moveCostKm = km;
    }
    setBusy("plan");
    try {
      setPlan(await api.matching.optimizeIncident({ incidentId: props.incidentId, dryRun: true, moveCostKm }));
    } catch (e) {
      if (props.onAuthError(e)) return;
      const where = placeViolations(fieldViolations(e), { [MOVE_COST_ID]: [label, ["move_cost_km"]] }, "", (_path, description) =>
        explainViolation(t, locale, description),
      );
      if (code(e) === Code.Aborted) setNotice(t("optimise.busy"));
      else if (code(e) === Code.InvalidArgument && where.byInput[MOVE_COST_ID]) setPlaced(where);
      else setError(e);
    } finally {
      setBusy(null);
    }
  };

  const apply = async () => {
    if (!plan) return;
    reset();
    setBusy("apply");
    try {
      const applied = await api.matching.applyOptimizationPlan({ incidentId: props.incidentId, planId: plan.planId });
      setPlan(null);
      setNotice(t("optimise.applied", { created: applied.createdMatchCount, cancelled: applied.cancelledMatchCount }));
      props.onApplied();
    } catch (e) {
      if (props.onAuthError(e)) return;
      const why = code(e) === Code.FailedPrecondition ? OUTDATED[reason(e) ?? ""] : undefined;
      if (code(e) === Code.Aborted) setNotice(t("optimise.busy"));
      else if (why) {
        setPlan(null);
        setOutdated(why);
      } else setError(e);
    } finally {
      setBusy(null);
    }
  };

  const row = (rowLabel: string, pick: (o: OptimizationObjective) => string) => (
    <tr>
      <th scope="row">{rowLabel}</th>
      <td>{plan?.before ? pick(plan.before) : "–"}</td>
      <td>{plan?.after ? pick(plan.after) : "–"}</td>
    </tr>
  );

  const taskName = (taskId: string) => props.tasks?.find((x) => x.taskId === taskId)?.title ?? taskId.slice(0, 8);
  const kept = plan?.assignments.filter((a) => a.kept).length ?? 0;
  const total = plan?.assignments.length ?? 0;
  const ms = plan?.solveDuration ? Number(plan.solveDuration.seconds) * 1000 + plan.solveDuration.nanos / 1e6 : 0;

  return (
    <section class="card optimise" aria-labelledby="optimise-heading">
      <h2 id="optimise-heading">{t("optimise.title")}</h2>
      <p class="hint">{t("optimise.explain")}</p>
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void preview();
        }}
      >
        <Field t={t} id={MOVE_COST_ID} label={label} hint={t("optimise.moveCostHint")} placed={placed}>
          <input
            id={MOVE_COST_ID}
            ref={moveCostInput}
            type="number"
            inputMode="decimal"
            step="any"
            min={0}
            max={MOVE_COST_MAX}
            value={moveCost}
            onInput={(e) => setMoveCost((e.target as HTMLInputElement).value)}
            {...describe(placed, MOVE_COST_ID, true)}
          />
        </Field>
        <div class="row">
          <button type="submit" class="button" disabled={!!busy}>
            {busy === "plan" ? t("optimise.running") : t("optimise.preview")}
          </button>
        </div>
      </form>
      <OkNotice text={notice} />
      <ErrorNotice t={t} error={error} />
      {outdated && (
        <div class="notice notice--warn optimise__outdated" data-testid="optimise-outdated">
          <p role="alert">{t(outdated === "stale" ? "optimise.stale" : "optimise.expired")}</p>
          <div class="row">
            <button type="button" class="button button--primary" ref={planAgainButton} disabled={!!busy} onClick={() => void preview()}>
              {busy === "plan" ? t("optimise.running") : t("optimise.planAgain")}
            </button>
          </div>
        </div>
      )}
      {plan && (
        <div class="optimise__preview" data-testid="optimise-preview">
          <table class="objective">
            <thead>
              <tr>
                <td />
                <th scope="col">{t("optimise.before")}</th>
                <th scope="col">{t("optimise.after")}</th>
              </tr>
            </thead>
            <tbody>
              {row(t("optimise.coverage"), (o) => formatPercent(o.weightedCoverage, locale))}
              {row(t("optimise.travel"), (o) => t("optimise.km", { km: formatNumber(o.totalTravelKm, locale, 1) }))}
              {row(t("optimise.spread"), (o) => t("optimise.hours", { hours: formatNumber(o.loadSpreadHours, locale, 1) }))}
            </tbody>
          </table>
          <p>{t("optimise.assignments", { total, kept, fresh: total - kept })}</p>
          {plan.moves.length === 0 ? (
            <p class="notice" data-testid="optimise-no-changes">
              {t("optimise.noChanges")}
            </p>
          ) : (
            <Moves {...props} moves={plan.moves} taskName={taskName} />
          )}
          <p class="hint">
            {t("optimise.planInfo", {
              km: formatNumber(plan.moveCostKm, locale, Number.isInteger(plan.moveCostKm) ? 0 : 1),
              time: formatTime(toDate(plan.planExpiresAt), locale),
            })}{" "}
            {t("optimise.solved", { ms: formatNumber(ms, locale, 1) })}
          </p>
          <div class="row">
            {plan.moves.length > 0 && (
              <button type="button" class="button button--primary" disabled={!!busy} onClick={() => void apply()}>
                {t("optimise.apply")}
              </button>
            )}
            <button type="button" class="button button--quiet" disabled={!!busy} onClick={() => setPlan(null)}>
              {t("optimise.discard")}
            </button>
          </div>
        </div>
      )}
    </section>
  );
}

/** The plan's changes, one row each: what, which task, which volunteer (pseudonym) and why. */
function Moves(props: ConsoleProps & { moves: PlanMove[]; taskName: (taskId: string) => string }) {
  const { t, moves } = props;
  return (
    <div class="optimise__scroll">
      <table class="objective optimise__moves" data-testid="optimise-moves">
        <caption>{t("optimise.movesCaption", { count: moves.length })}</caption>
        <thead>
          <tr>
            <th scope="col">{t("optimise.moveKind")}</th>
            <th scope="col">{t("optimise.moveTask")}</th>
            <th scope="col">{t("optimise.moveVolunteer")}</th>
          </tr>
        </thead>
        <tbody>
          {moves.map((move) => {
            const kind = move.kind === PlanMoveKind.OFFER ? "offer" : "withdraw";
            return (
              <tr key={`${kind}-${move.taskId}-${move.volunteerRef}`} data-kind={kind} data-task-id={move.taskId}>
                <td>
                  <span class={`status optimise__kind optimise__kind--${kind}`}>
                    {t(`optimise.move.${move.kind}` as "optimise.move.1")}
                  </span>
                </td>
                <td>{props.taskName(move.taskId)}</td>
                <td>
                  <span class="match__ref">{move.volunteerRef}</span>
                  {move.explanation?.summary && (
                    <span class="hint optimise__why">
                      {t("optimise.why")} <span lang="en">{move.explanation.summary}</span>
                    </span>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
