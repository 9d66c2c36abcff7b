// The incidents of the coordinator's organisation: list, open a new one.
import { Code } from "@connectrpc/connect";
import { useEffect, useMemo, useState } from "preact/hooks";
import type { Incident } from "../gen/spontan/v1/task_pb";
import { IncidentStatus } from "../gen/spontan/v1/common_pb";
import type { Clients } from "../lib/clients";
import type { MapConfig } from "../lib/config";
import { code, fieldViolations } from "../lib/errors";
import type { Locale } from "../lib/i18n";
import { formatNumber, formatTime, toDate, fingerprint } from "../shared-staff/format";
import { IdempotencyKeys } from "../shared-staff/ids";
import { describe, placeViolations, type Placed } from "./violations";
import { ErrorNotice, ErrorSummary, Field, FormActions, OkNotice, numberValue, type T } from "./ui";
import { MapPicker, parsePoint } from "./mappicker";
import { explainViolation } from "./servertext";

/** A screen below an incident (`?view=`); none is its tasks. */
export type View = "audit";

export interface ConsoleProps {
  t: T;
  locale: Locale;
  api: Clients;
  /** The deployment's map style (config.json), for the maps of the forms. */
  mapConfig: MapConfig;
  organisation: string | undefined;
  onAuthError: (error: unknown) => boolean;
  /** Shows the incident list, an incident, or (`view` "audit") an incident's audit trail. */
  navigate: (incidentId: string | null, view?: View) => void;
  /** Signed in as an admin: may read audit trails. */
  isAdmin: boolean;
}

export async function listAllIncidents(api: Clients, organisation: string | undefined): Promise<Incident[]> {
  const out: Incident[] = [];
  let pageToken = "";
  for (let page = 0; page < 20; page++) {
    const response = await api.task.listIncidents({ pageSize: 100, pageToken, organisationId: organisation ?? "" });
    out.push(...response.incidents);
    pageToken = response.nextPageToken;
    if (!pageToken) break;
  }
  return out;
}

export function IncidentsPage(props: ConsoleProps) {
  const { t, locale, api } = props;
  const [incidents, setIncidents] = useState<Incident[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  const load = async () => {
    try {
      setIncidents(await listAllIncidents(api, props.organisation));
      setError(null);
    } catch (e) {
      if (!props.onAuthError(e)) setError(e);
    }
  };
  useEffect(() => {
    void load();
  }, [api]);

  return (
    <main id="main" class="page">
      <div class="row">
        <h1>{t("incidents.title")}</h1>
        <span class="spacer" />
        <button type="button" class="button button--quiet" onClick={() => void load()}>
          {t("incidents.refresh")}
        </button>
        {!creating && (
          <button type="button" class="button button--primary" onClick={() => setCreating(true)}>
            {t("incidents.new")}
          </button>
        )}
      </div>
      <OkNotice text={notice} />
      {creating && (
        <IncidentForm
          {...props}
          onCancel={() => setCreating(false)}
          onCreated={(incident) => {
            setCreating(false);
            setNotice(t("incidentForm.created", { name: incident.name }));
            setIncidents((list) => [incident, ...(list ?? []).filter((i) => i.incidentId !== incident.incidentId)]);
          }}
        />
      )}
      <ErrorNotice t={t} error={error} />
      {incidents === null && !error && <p>{t("common.loading")}</p>}
      {incidents?.length === 0 && <p>{t("incidents.empty")}</p>}
      <ul class="incident-list">
        {incidents?.map((incident) => (
          <li key={incident.incidentId} class="card incident">
            <div class="row">
              <h2 class="incident__name">
                <a
                  href={`?incident=${incident.incidentId}`}
                  onClick={(e) => {
                    e.preventDefault();
                    props.navigate(incident.incidentId);
                  }}
                >
                  {incident.name}
                </a>
              </h2>
              <span class="status">{t(`incidentStatus.${incident.status}` as "incidentStatus.1")}</span>
            </div>
            <p class="hint">
              {incident.status === IncidentStatus.CLOSED
                ? t("incidents.closedAt", { time: formatTime(toDate(incident.closedAt), locale) })
                : t("incidents.created", { time: formatTime(toDate(incident.createdAt), locale) })}
              {" · "}
              {t("incidents.region", {
                lat: formatNumber(incident.regionCentre?.latitude ?? 0, locale, 4),
                lon: formatNumber(incident.regionCentre?.longitude ?? 0, locale, 4),
                radius: formatNumber(incident.regionRadiusKm, locale, 1),
              })}
            </p>
            {incident.description && <p>{incident.description}</p>}
          </li>
        ))}
      </ul>
    </main>
  );
}

/** The region as typed so far, drawn around the picked centre; null while incomplete. */
function regionOf(lat: string, lon: string, radius: string) {
  const centre = parsePoint(lat, lon);
  const radiusKm = numberValue(radius);
  return centre && radiusKm > 0 && radiusKm <= 500 ? { ...centre, radiusKm } : null;
}

function IncidentForm(props: ConsoleProps & { onCancel: () => void; onCreated: (incident: Incident) => void }) {
  const { t, api } = props;
  const keys = useMemo(() => new IdempotencyKeys(), []);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [lat, setLat] = useState("");
  const [lon, setLon] = useState("");
  const [radius, setRadius] = useState("10");
  const [organisation, setOrganisation] = useState(props.organisation ?? "");
  const [busy, setBusy] = useState(false);
  const [placed, setPlaced] = useState<Placed | null>(null);
  const [error, setError] = useState<unknown>(null);

  const inputs: Record<string, [string, string[]]> = {
    "incident-name": [t("incidentForm.name"), ["name"]],
    "incident-description": [t("incidentForm.description"), ["description"]],
    "incident-lat": [t("incidentForm.latitude"), ["region_centre", "region_centre.latitude"]],
    "incident-lon": [t("incidentForm.longitude"), ["region_centre.longitude"]],
    "incident-radius": [t("incidentForm.radius"), ["region_radius_km"]],
    "incident-organisation": [t("incidentForm.organisation"), ["organisation_id"]],
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setPlaced(null);
    setError(null);
    const request = {
      organisationId: organisation.trim(),
      name,
      description,
      regionCentre: { latitude: numberValue(lat), longitude: numberValue(lon) },
      regionRadiusKm: numberValue(radius),
    };
    try {
      const response = await api.task.createIncident({ ...request, idempotencyKey: keys.for(fingerprint(request)) });
      keys.reset();
      props.onCreated(response.incident!);
    } catch (err) {
      if (props.onAuthError(err)) return;
      const violations = fieldViolations(err);
      if (code(err) === Code.InvalidArgument && Object.keys(violations).length) setPlaced(placeViolations(violations, inputs, "", (_path, description) => explainViolation(t, props.locale, description)));
      else setError(err);
    } finally {
      setBusy(false);
    }
  };

  /** A required number with decimals: a coordinate of the centre, or the radius. */
  const decimalInput = (id: string, value: string, onValue: (value: string) => void) => (
    <input
      id={id}
      type="number"
      step="any"
      required
      inputMode="decimal"
      value={value}
      onInput={(e) => onValue((e.target as HTMLInputElement).value)}
      {...describe(placed, id)}
    />
  );

  return (
    <section class="card" aria-labelledby="incident-form-title">
      <h2 id="incident-form-title">{t("incidentForm.title")}</h2>
      <form onSubmit={submit}>
        <ErrorSummary t={t} placed={placed} />
        <ErrorNotice t={t} error={error} />
        <Field t={t} id="incident-name" label={t("incidentForm.name")} hint={t("incidentForm.nameHint")} placed={placed}>
          <input
            id="incident-name"
            required
            maxLength={120}
            value={name}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
            {...describe(placed, "incident-name", true)}
          />
        </Field>
        <Field t={t} id="incident-description" label={t("incidentForm.description")} placed={placed}>
          <textarea
            id="incident-description"
            maxLength={4000}
            value={description}
            onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)}
            {...describe(placed, "incident-description")}
          />
        </Field>
        <fieldset>
          <legend>{t("incidentForm.centre")}</legend>
          <MapPicker
            t={t}
            locale={props.locale}
            config={props.mapConfig}
            id="incident"
            what={t("incidentForm.centreOnMap")}
            lat={lat}
            lon={lon}
            region={regionOf(lat, lon, radius)}
            onPick={(pickedLat, pickedLon) => {
              setLat(pickedLat);
              setLon(pickedLon);
            }}
          />
          <div class="grid-2">
            <Field t={t} id="incident-lat" label={t("incidentForm.latitude")} placed={placed}>
              {decimalInput("incident-lat", lat, setLat)}
            </Field>
            <Field t={t} id="incident-lon" label={t("incidentForm.longitude")} placed={placed}>
              {decimalInput("incident-lon", lon, setLon)}
            </Field>
            <Field t={t} id="incident-radius" label={t("incidentForm.radius")} placed={placed}>
              {decimalInput("incident-radius", radius, setRadius)}
            </Field>
          </div>
        </fieldset>
        {!props.organisation && (
          <Field t={t} id="incident-organisation" label={t("incidentForm.organisation")} placed={placed}>
            <input
              id="incident-organisation"
              required
              value={organisation}
              onInput={(e) => setOrganisation((e.target as HTMLInputElement).value)}
              {...describe(placed, "incident-organisation")}
            />
          </Field>
        )}
        <FormActions t={t} label={t("incidentForm.submit")} busy={busy} onCancel={props.onCancel} />
      </form>
    </section>
  );
}
