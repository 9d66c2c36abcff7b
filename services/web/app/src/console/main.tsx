// The coordinator console (/console/): incidents, tasks, live staffing, contacts of accepted
// volunteers (audited), the optimiser. Signed in by a token in the URL fragment.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { translator } from "../lib/i18n";
import { useStaff } from "../shared-staff/bootstrap";
import { SignIn, TopBar } from "../shared-staff/components";
import { useLocale } from "../shared-staff/hooks";
import { IncidentPage } from "./incident";
import { IncidentsPage } from "./incidents";
import { dictionaries } from "./messages";
import "../shared-staff/staff.css";
import "./console.css";

const STORAGE_KEY = "spontan.console.token";

function currentIncident(): string | null {
  return new URLSearchParams(location.search).get("incident");
}

function App() {
  const [locale, setLocale] = useLocale();
  const t = translator(dictionaries, locale);
  const staff = useStaff(STORAGE_KEY, ["coordinator", "admin"]);
  const [incidentId, setIncidentId] = useState<string | null>(currentIncident);

  useEffect(() => {
    document.title = `${t("app.title")} · Spontan`;
  }, [locale]);
  useEffect(() => {
    const onPop = () => setIncidentId(currentIncident());
    addEventListener("popstate", onPop);
    return () => removeEventListener("popstate", onPop);
  }, []);

  const navigate = (id: string | null) => {
    const url = new URL(location.href);
    if (id) url.searchParams.set("incident", id);
    else url.searchParams.delete("incident");
    history.pushState(null, "", url.pathname + url.search);
    setIncidentId(id);
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
  const common = {
    t,
    locale,
    api: staff.api,
    mapConfig: staff.config?.map ?? { styleUrl: "", attribution: "" },
    organisation: session.claims.org,
    onAuthError: staff.handleAuthError,
    navigate,
  };
  return (
    <>
      <TopBar t={t} title={t("app.title")} session={session} locale={locale} onLocale={setLocale} onSignOut={staff.signOut} />
      {incidentId ? <IncidentPage key={incidentId} {...common} incidentId={incidentId} /> : <IncidentsPage {...common} />}
    </>
  );
}

render(<App />, document.getElementById("app")!);
