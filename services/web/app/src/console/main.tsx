// The coordinator console (/console/): incidents, tasks, live staffing, contacts of accepted
// volunteers (audited), the optimiser, and for admins an incident's audit trail (loaded with
// import(): coordinators never need it). Signed in by a token in the URL fragment.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { translator } from "../lib/i18n";
import { useStaff } from "../shared-staff/bootstrap";
import { SignIn, TopBar } from "../shared-staff/components";
import { useLocale } from "../shared-staff/hooks";
import { IncidentPage } from "./incident";
import { IncidentsPage, type ConsoleProps, type View } from "./incidents";
import { dictionaries } from "./messages";
import "../shared-staff/staff.css";
import "./console.css";

const STORAGE_KEY = "spontan.console.token";

function currentIncident(): string | null {
  return new URLSearchParams(location.search).get("incident");
}

function currentView(): View | null {
  return new URLSearchParams(location.search).get("view") === "audit" ? "audit" : null;
}

/** The audit trail: admins only (the services refuse everyone else too); its code loaded on first use. */
function AuditScreen(props: ConsoleProps & { incidentId: string }) {
  const { t } = props;
  const [module, setModule] = useState<typeof import("./audit") | null>(null);
  const [failed, setFailed] = useState<unknown>(null);
  useEffect(() => {
    if (props.isAdmin) import("./audit").then(setModule, setFailed);
  }, [props.isAdmin]);
  if (module) return <module.AuditPage {...props} />;
  return (
    <main id="main" class="page">
      <p>
        <a
          href={`./?incident=${encodeURIComponent(props.incidentId)}`}
          onClick={(e) => {
            e.preventDefault();
            props.navigate(props.incidentId);
          }}
        >
          ← {t("audit.back")}
        </a>
      </p>
      <h1>{t("audit.link")}</h1>
      {!props.isAdmin ? (
        <p class="notice notice--warn" role="alert">
          {t("audit.adminOnly")}
        </p>
      ) : failed ? (
        <p class="notice notice--error" role="alert">
          {t("common.error", { message: failed instanceof Error ? failed.message : String(failed) })}
        </p>
      ) : (
        <p role="status">{t("common.loading")}</p>
      )}
    </main>
  );
}

function App() {
  const [locale, setLocale] = useLocale();
  const t = translator(dictionaries, locale);
  const staff = useStaff(STORAGE_KEY, ["coordinator", "admin"]);
  const [incidentId, setIncidentId] = useState<string | null>(currentIncident);
  const [view, setView] = useState<View | null>(currentView);

  useEffect(() => {
    document.title = `${t("app.title")} · Spontan`;
  }, [locale]);
  useEffect(() => {
    const onPop = () => {
      setIncidentId(currentIncident());
      setView(currentView());
    };
    addEventListener("popstate", onPop);
    return () => removeEventListener("popstate", onPop);
  }, []);

  const navigate = (id: string | null, to?: View) => {
    const url = new URL(location.href);
    if (id) url.searchParams.set("incident", id);
    else url.searchParams.delete("incident");
    if (id && to) url.searchParams.set("view", to);
    else url.searchParams.delete("view");
    history.pushState(null, "", url.pathname + url.search);
    setIncidentId(id);
    setView(id && to ? to : null);
    scrollTo(0, 0);
  };

  const session = staff.state.session;
  if (!session) {
    return <SignIn t={t} staff={staff} role="coordinator" locale={locale} onLocale={setLocale} />;
  }
  if (!staff.api) {
    return (
      <main id="main" class="page">
        {staff.configError ? <p role="alert">{t("common.error", { message: staff.configError })}</p> : <p>{t("common.loading")}</p>}
      </main>
    );
  }
  const common: ConsoleProps = {
    t,
    locale,
    api: staff.api,
    mapConfig: staff.config?.map ?? { styleUrl: "", attribution: "" },
    organisation: session.claims.org,
    onAuthError: staff.handleAuthError,
    navigate,
    isAdmin: session.claims.role === "admin",
  };
  return (
    <>
      <TopBar t={t} title={t("app.title")} session={session} locale={locale} onLocale={setLocale} onSignOut={staff.signOut} />
      {incidentId && view === "audit" ? (
        <AuditScreen key={`${incidentId}-audit`} {...common} incidentId={incidentId} />
      ) : incidentId ? (
        <IncidentPage key={incidentId} {...common} incidentId={incidentId} />
      ) : (
        <IncidentsPage {...common} />
      )}
    </>
  );
}

render(<App />, document.getElementById("app")!);
