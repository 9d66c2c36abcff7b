// "Profile": what the registration service holds about the volunteer, confirming the contact
// (confirm.tsx, loaded with import() while it is not confirmed), changing it (the editors of
// edit.tsx), alerts on this phone (push.tsx; both loaded with import() when this screen
// opens), only essential messages, pause/resume, export (right of access) and erasure (right to
// erasure).
import { Code } from "@connectrpc/connect";
import { useEffect, useRef, useState } from "preact/hooks";
import { AlertChannel, VolunteerStatus } from "../gen/spontan/v1/common_pb";
import type { VolunteerProfile } from "../gen/spontan/v1/registration_pb";
import { code } from "../lib/errors";
import { focusNext, useApp } from "./context";
import { contactOf, date, km, ms, skillLabel, timeWindow, trouble } from "./format";
import type { Key } from "./messages";
import { sessionOf } from "./renew";
import { Notice, Screen, useLazy } from "./ui";

type Busy = null | "pause" | "export" | "erase" | "devices";
type Editing = null | "details" | "times";

export function ProfileScreen() {
  const { t, locale, api, guard, skills, loadSkills, signOut, adopt, session, announce, config } = useApp();
  const [profile, setProfile] = useState<VolunteerProfile | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState<Busy>(null);
  const [editing, setEditing] = useState<Editing>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  const editButtons = { details: useRef<HTMLButtonElement>(null), times: useRef<HTMLButtonElement>(null) };
  const returnTo = useRef<Editing>(null);
  // Loaded as the screen opens, so that they are there by the time they are tapped.
  const editors = useLazy(() => import("./edit"), !!profile);
  const push = useLazy(() => import("./push"), !!profile && !!config.vapidPublicKey);
  const confirmation = useLazy(() => import("./confirm"), !!profile && !profile.contactConfirmedAt);
  // The offers screen's "Confirm now" led here: the card takes the focus (read once).
  const [focusConfirm] = useState(() => {
    const wanted = focusNext.target === "confirm";
    focusNext.target = null;
    return wanted;
  });
  /** The contact just confirmed here (the profile does not say which one was). */
  const [confirmedVia, setConfirmedVia] = useState<"phone" | "email" | undefined>(undefined);
  const confirmedLine = useRef<HTMLParagraphElement>(null);
  useEffect(() => {
    if (confirmedVia) confirmedLine.current?.focus();
  }, [confirmedVia]);

  // Back from an editor: the focus returns to the button that opened it.
  useEffect(() => {
    if (editing === null && returnTo.current) {
      editButtons[returnTo.current].current?.focus();
      returnTo.current = null;
    }
  }, [editing]);
  const edit = (what: Editing) => {
    setDone(null);
    setProblem(null);
    setEditing(what);
  };
  const closeEditor = () => {
    returnTo.current = editing;
    setEditing(null);
  };
  const saved = (next: VolunteerProfile, text: string) => {
    setProfile(next);
    setDone(text);
    announce(text);
    closeEditor();
  };
  const editor = (what: Exclude<Editing, null>) => {
    if (editing !== what) return null;
    if (editors.module) {
      const Editor = what === "details" ? editors.module.DetailsEditor : editors.module.AvailabilityEditor;
      return <Editor profile={profile!} onDone={saved} onCancel={closeEditor} />;
    }
    return editors.failed ? (
      <Notice kind="problem">
        {t("problem.offline")}{" "}
        <button type="button" class="secondary" onClick={editors.retry}>
          {t("action.tryAgain")}
        </button>
      </Notice>
    ) : (
      <p>{t("profile.loading")}</p>
    );
  };

  const confirmed = (next: VolunteerProfile, via: "phone" | "email") => {
    const required = profile?.contactConfirmationRequired;
    setProfile(next);
    setProblem(null);
    setConfirmedVia(via);
    const text = `${t("confirmed.done", { contact: t(`contact.${via}`) })}${required ? ` ${t("confirmed.offers")}` : ""}`;
    setDone(text);
    announce(text);
  };
  const confirmCard = () => {
    if (confirmation.module) {
      return (
        <confirmation.module.ConfirmCard profile={profile!} onConfirmed={confirmed} onStale={() => void load()} focus={focusConfirm} />
      );
    }
    return confirmation.failed ? (
      <Notice kind="problem">
        {t("problem.offline")}{" "}
        <button type="button" class="secondary" onClick={confirmation.retry}>
          {t("action.tryAgain")}
        </button>
      </Notice>
    ) : null;
  };

  const load = async () => {
    try {
      const r = await guard(api.registration.getMyProfile({}));
      setProfile(r.profile ?? null);
      setProblem(null);
    } catch (error) {
      if (code(error) !== Code.Unauthenticated) setProblem(trouble(t, error));
    }
  };
  useEffect(() => {
    void load();
    if (!skills) loadSkills();
  }, []);

  const act = async (what: Exclude<Busy, null>, run: () => Promise<void>) => {
    setBusy(what);
    setProblem(null);
    setDone(null);
    try {
      await run();
    } catch (error) {
      if (code(error) !== Code.Unauthenticated) {
        const text = trouble(t, error);
        setProblem(text);
        announce(text);
      }
    } finally {
      setBusy(null);
    }
  };

  const paused = profile?.status === VolunteerStatus.PAUSED;
  const togglePause = () =>
    act("pause", async () => {
      const r = paused ? await guard(api.registration.resumeMe({})) : await guard(api.registration.pauseMe({}));
      setProfile(r.profile ?? profile);
      const text = paused ? t("profile.resumed") : t("profile.paused");
      setDone(text);
    });

  const download = () =>
    act("export", async () => {
      const r = await guard(api.registration.exportMyData({}));
      let json = r.json;
      try {
        json = JSON.stringify(JSON.parse(r.json), null, 2);
      } catch {
        // Keep the server's text as it is.
      }
      const url = URL.createObjectURL(new Blob([json], { type: "application/json" }));
      const link = document.createElement("a");
      link.href = url;
      link.download = `spontan-my-data-${new Date().toISOString().slice(0, 10)}.json`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      setDone(t("profile.exported"));
    });

  const signOutElsewhere = () =>
    act("devices", async () => {
      const r = await guard(api.registration.signOutEverywhere({ keepThisSession: true }));
      if (session && r.accessToken) adopt(sessionOf(session.volunteerId, r));
      setDone(t("profile.signedOutElsewhere", { count: r.endedSessions }));
    });

  const erase = () =>
    act("erase", async () => {
      await guard(api.registration.eraseMe({ confirm: true }));
      dialog.current?.close();
      signOut("erased");
    });

  const skillNames = (ids: string[]) =>
    ids.map((id) => {
      const s = skills?.find((x) => x.id === id);
      return s ? skillLabel(s, locale) : id;
    });

  const p = profile;
  const c = p?.contact;
  const home = p?.homeLocation;
  return (
    <Screen title={t("profile.title")}>
      {problem && <Notice kind="problem">{problem}</Notice>}
      {done && <Notice kind="success">{done}</Notice>}
      {!p && !problem && <p>{t("profile.loading")}</p>}
      {p?.contactConfirmedAt && (
        <p class="confirmed" ref={confirmedLine} tabIndex={-1}>
          <span aria-hidden="true">✓ </span>
          {t(`confirmed.${contactOf(c, confirmedVia)}`)}
        </p>
      )}
      {p && !p.contactConfirmedAt && confirmCard()}
      {p && editing === "details" && editor("details")}
      {p && editing !== "details" && (
        <dl class="facts profile">
          <dt>{t("profile.name")}</dt>
          <dd>{c?.displayName}</dd>
          {c?.phoneE164 && (
            <>
              <dt>{t("profile.phone")}</dt>
              <dd>{c.phoneE164}</dd>
            </>
          )}
          {c?.email && (
            <>
              <dt>{t("profile.email")}</dt>
              <dd>{c.email}</dd>
            </>
          )}
          <dt>{t("profile.channel")}</dt>
          <dd>{t(`channel.${p.preferredAlertChannel || AlertChannel.UNSPECIFIED}` as Key)}</dd>
          <dt>{t("field.birthYear")}</dt>
          <dd>{p.birthYear}</dd>
          <dt>{t("profile.skills")}</dt>
          <dd>{p.skillIds.length ? skillNames(p.skillIds).join(", ") : t("profile.noSkills")}</dd>
          <dt>{t("profile.languages")}</dt>
          <dd>{p.languages.join(", ")}</dd>
          <dt>{t("profile.radius")}</dt>
          <dd>{km(locale, p.travelRadiusKm)}</dd>
          <dt>{t("profile.home")}</dt>
          <dd>{home ? `${home.latitude.toFixed(4)}, ${home.longitude.toFixed(4)}` : "–"}</dd>
          <dt>{t("profile.status")}</dt>
          <dd>{t(`status.${p.status}` as Key)}</dd>
          <dt>{t("profile.registered")}</dt>
          <dd>{ms(p.createdAt) !== undefined ? date(locale, ms(p.createdAt)!) : "–"}</dd>
          <dt>{t("profile.consent")}</dt>
          <dd>
            {t("profile.consentValue", {
              version: p.consentTextVersion,
              date: ms(p.consentGivenAt) !== undefined ? date(locale, ms(p.consentGivenAt)!) : "–",
            })}
          </dd>
        </dl>
      )}
      {p && editing !== "details" && (
        <div class="actions">
          <button type="button" class="secondary" ref={editButtons.details} onClick={() => edit("details")}>
            {t("action.editDetails")}
          </button>
        </div>
      )}
      {p && (
        <section aria-labelledby="times-title">
          <h2 id="times-title">{t("profile.availability")}</h2>
          {editing === "times" ? (
            editor("times")
          ) : (
            <>
              {p.availability.length ? (
                <ul class="plain times">
                  {p.availability.map((w, i) => (
                    <li key={i}>{timeWindow(locale, w)}</li>
                  ))}
                </ul>
              ) : (
                <p>{t("profile.noAvailability")}</p>
              )}
              <div class="actions">
                <button type="button" class="secondary" ref={editButtons.times} onClick={() => edit("times")}>
                  {t("action.editTimes")}
                </button>
              </div>
            </>
          )}
        </section>
      )}
      {p && push.module && <push.module.PushSettings profile={p} onProfile={setProfile} />}
      {p && (
        <section aria-labelledby="pause-title">
          <h2 id="pause-title">{t("profile.offersTitle")}</h2>
          <p>{paused ? t("profile.pausedText") : t("profile.activeText")}</p>
          <div class="actions">
            <button type="button" class="secondary" disabled={busy !== null} onClick={togglePause}>
              {paused ? t("action.resume") : t("action.pause")}
            </button>
          </div>
        </section>
      )}
      {p && <MessagesSetting profile={p} onProfile={setProfile} />}
      {p && (
        <section aria-labelledby="devices-title">
          <h2 id="devices-title">{t("profile.devicesTitle")}</h2>
          <p>{t("profile.devicesText")}</p>
          <div class="actions">
            <button type="button" class="secondary" disabled={busy !== null} onClick={signOutElsewhere}>
              {busy === "devices" ? t("profile.signingOut") : t("action.signOutElsewhere")}
            </button>
          </div>
        </section>
      )}
      <section aria-labelledby="data-title">
        <h2 id="data-title">{t("profile.dataTitle")}</h2>
        <p>{t("profile.dataText")}</p>
        <div class="actions">
          <button type="button" class="secondary" disabled={busy !== null} onClick={download}>
            {busy === "export" ? t("profile.exporting") : t("action.export")}
          </button>
          <button type="button" class="danger" disabled={busy !== null} onClick={() => dialog.current?.showModal()}>
            {t("action.erase")}
          </button>
        </div>
      </section>
      <dialog ref={dialog} aria-labelledby="erase-title" aria-describedby="erase-text">
        <h2 id="erase-title">{t("erase.title")}</h2>
        <p id="erase-text">{t("erase.text")}</p>
        {problem && busy === null && <p class="field-error">{problem}</p>}
        <div class="actions">
          <button type="button" class="danger" disabled={busy !== null} onClick={erase}>
            {busy === "erase" ? t("erase.busy") : t("action.confirmErase")}
          </button>
          <button type="button" class="secondary" autoFocus onClick={() => dialog.current?.close()}>
            {t("action.cancel")}
          </button>
        </div>
      </dialog>
    </Screen>
  );
}

/**
 * "Only essential messages" (`messages_opt_out`), saved as soon as it is switched. Sent without
 * the profile's version: the switch says what the volunteer wants now, whatever else changed
 * meanwhile, and no other field depends on it. A refusal is said beside the switch, which then
 * shows what is stored again, so that switching it once more is the way to retry.
 */
function MessagesSetting(props: { profile: VolunteerProfile; onProfile: (p: VolunteerProfile) => void }) {
  const { t, api, guard, announce } = useApp();
  const [pending, setPending] = useState<boolean | null>(null);
  const [notice, setNotice] = useState<{ kind: "success" | "problem"; text: string } | null>(null);
  const stored = props.profile.messagesOptOut;
  const save = async (next: boolean) => {
    setPending(next);
    setNotice(null);
    try {
      const r = await guard(
        api.registration.updateMyProfile({
          profile: { messagesOptOut: next },
          updateMask: { paths: ["messages_opt_out"] },
        }),
      );
      if (r.profile) props.onProfile(r.profile);
      const text = next ? t("messages.savedOn") : t("messages.savedOff");
      setNotice({ kind: "success", text });
      announce(text);
    } catch (error) {
      if (code(error) !== Code.Unauthenticated) setNotice({ kind: "problem", text: `${t("messages.notSaved")} ${trouble(t, error)}` });
    } finally {
      setPending(null);
    }
  };
  return (
    <section aria-labelledby="messages-title">
      <h2 id="messages-title">{t("messages.title")}</h2>
      <label class="check">
        <input
          id="messages-opt-out"
          type="checkbox"
          role="switch"
          checked={pending ?? stored}
          aria-describedby={notice?.kind === "problem" ? "messages-opt-out-hint messages-opt-out-problem" : "messages-opt-out-hint"}
          // Not disabled while saving (that would take the focus away): a second tap meanwhile does nothing.
          onClick={(e) => pending !== null && e.preventDefault()}
          onChange={(e) => void save((e.currentTarget as HTMLInputElement).checked)}
        />
        <span>{t("messages.optOut")}</span>
      </label>
      <p id="messages-opt-out-hint" class="hint">
        {t("messages.hint")}
      </p>
      {notice && (
        <div id={`messages-opt-out-${notice.kind}`}>
          <Notice kind={notice.kind}>{notice.text}</Notice>
        </div>
      )}
    </section>
  );
}
