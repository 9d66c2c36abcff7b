// The batch optimiser: a dry run shows what it would do (objectives before and after, how
// many assignments are kept and new); only "Apply" runs it for real.
import { Code } from "@connectrpc/connect";
import { useState } from "preact/hooks";
import type { OptimizationObjective, OptimizeIncidentResponse } from "../gen/spontan/v1/matching_pb";
import { code } from "../lib/errors";
import { formatNumber, formatPercent } from "../shared-staff/format";
import type { ConsoleProps } from "./incidents";
import { ErrorNotice, OkNotice } from "./ui";

export function Optimise(props: ConsoleProps & { incidentId: string; onApplied: () => void }) {
  const { t, api, locale } = props;
  const [preview, setPreview] = useState<OptimizeIncidentResponse | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const run = async (dryRun: boolean) => {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      const response = await api.matching.optimizeIncident({ incidentId: props.incidentId, dryRun });
      if (dryRun) setPreview(response);
      else {
        setPreview(null);
        setNotice(t("optimise.applied", { created: response.createdMatchCount, cancelled: response.cancelledMatchCount }));
        props.onApplied();
      }
    } catch (e) {
      if (props.onAuthError(e)) return;
      if (code(e) === Code.Aborted) setNotice(t("optimise.busy"));
      else setError(e);
    } finally {
      setBusy(false);
    }
  };

  const row = (label: string, pick: (o: OptimizationObjective) => string) => (
    <tr>
      <th scope="row">{label}</th>
      <td>{preview?.before ? pick(preview.before) : "–"}</td>
      <td>{preview?.after ? pick(preview.after) : "–"}</td>
    </tr>
  );

  const kept = preview?.assignments.filter((a) => a.kept).length ?? 0;
  const total = preview?.assignments.length ?? 0;
  const ms = preview?.solveDuration ? Number(preview.solveDuration.seconds) * 1000 + preview.solveDuration.nanos / 1e6 : 0;

  return (
    <section class="card optimise" aria-labelledby="optimise-heading">
      <h2 id="optimise-heading">{t("optimise.title")}</h2>
      <p class="hint">{t("optimise.explain")}</p>
      <div class="row">
        <button type="button" class="button" disabled={busy} onClick={() => void run(true)}>
          {busy && !preview ? t("optimise.running") : t("optimise.preview")}
        </button>
      </div>
      <OkNotice text={notice} />
      <ErrorNotice t={t} error={error} />
      {preview && (
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
          <p class="hint">{t("optimise.solved", { ms: formatNumber(ms, locale, 1) })}</p>
          <div class="row">
            <button type="button" class="button button--primary" disabled={busy} onClick={() => void run(false)}>
              {t("optimise.apply")}
            </button>
            <button type="button" class="button button--quiet" disabled={busy} onClick={() => setPreview(null)}>
              {t("optimise.discard")}
            </button>
          </div>
        </div>
      )}
    </section>
  );
}
