// "Offers": what matching offers the volunteer (accept or decline) and the tasks they accepted
// (meeting point, route, check-in). Refreshed every 10 s while the app is visible, and when
// it comes back to the front or online. Where the deployment requires a confirmed contact and
// the volunteer has none (the profile's `contact_confirmation_required`), it says first that
// offers start once they confirm it, and leads to the profile's confirmation card.
import { Code } from "@connectrpc/connect";
import { useEffect, useRef, useState } from "preact/hooks";
import { DeclineReason, MatchState } from "../gen/spontan/v1/common_pb";
import { OfferDecision, type Offer } from "../gen/spontan/v1/matching_pb";
import { code, fieldViolations, isTransient, message, reason } from "../lib/errors";
import type { Contact } from "../gen/spontan/v1/registration_pb";
import { PUSH_OFFER_KEY, focusNext, useApp } from "./context";
import { contactOf, km, ms, time, timeWindow } from "./format";
import type { Key, T } from "./messages";
import { Notice, Screen, useLazy } from "./ui";

const REFRESH_MS = 10_000;

type Problem = { kind: "success" | "problem"; text: string } | null;

/** A refusal of RespondToOffer or CheckIn, in words. */
export function problemText(t: T, error: unknown): string {
  const why = reason(error);
  switch (why) {
    case "OFFER_EXPIRED":
    case "OFFER_WITHDRAWN":
    case "TASK_STAFFED":
    case "OVERLAPPING_MATCH":
    case "MATCH_FINISHED":
    case "MATCH_NOT_ACCEPTED":
    case "MATCH_NOT_CHECKED_IN":
    case "CHECK_IN_LOCKED":
      return t(`reason.${why}`);
  }
  if (code(error) === Code.NotFound) return t("reason.NOT_FOUND");
  if (isTransient(error)) return t("problem.offline");
  return t("problem.other", { detail: message(error) });
}

/** Whether to ask about alerts on this phone: once after registering, where the browser can. */
function askAboutPush(vapidPublicKey: string): boolean {
  return (
    !!vapidPublicKey &&
    !!localStorage.getItem(PUSH_OFFER_KEY) &&
    "serviceWorker" in navigator &&
    "PushManager" in window &&
    "Notification" in window
  );
}

/**
 * "Confirm your mobile number to get offers": shown while the profile says offers wait for a
 * confirmed contact; "Confirm now" opens the profile with the focus on its confirmation card.
 */
function ConfirmFirst(props: { contact: Contact | undefined }) {
  const { t, go } = useApp();
  const contact = t(`contact.${contactOf(props.contact)}`);
  const open = () => {
    focusNext.target = "confirm";
    go("profile");
  };
  return (
    <section class="confirm-first" aria-labelledby="confirm-first-title">
      <h2 id="confirm-first-title">{t("confirm.requiredTitle", { contact })}</h2>
      <p>{t("confirm.requiredText", { contact })}</p>
      <div class="actions">
        <button type="button" class="primary" onClick={open}>
          {t("action.confirmNow")}
        </button>
      </div>
    </section>
  );
}

export function OffersScreen() {
  const { t, locale, api, guard, config } = useApp();
  /** The contact to confirm before offers come, or null (confirmed, or not required). */
  const [unconfirmed, setUnconfirmed] = useState<{ contact: Contact | undefined } | null>(null);
  const [asking, setAsking] = useState(() => askAboutPush(config.vapidPublicKey));
  const push = useLazy(() => import("./push"), asking);
  const [offers, setOffers] = useState<Offer[] | null>(null);
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const [stale, setStale] = useState(false);
  const [notice, setNotice] = useState<Problem>(null);
  const loading = useRef(false);

  const refresh = async () => {
    if (loading.current) return;
    loading.current = true;
    try {
      const response = await guard(api.matching.listMyOffers({}));
      setOffers(response.offers);
      setUpdatedAt(Date.now());
      setStale(false);
    } catch (error) {
      if (code(error) !== Code.Unauthenticated) setStale(true);
    } finally {
      loading.current = false;
    }
  };

  /** Whether offers wait for a confirmed contact: read when the screen opens and comes back. */
  const checkContact = async () => {
    try {
      const p = (await guard(api.registration.getMyProfile({}))).profile;
      setUnconfirmed(p?.contactConfirmationRequired ? { contact: p.contact } : null);
    } catch {
      // Offline or refused: the banner stays as it was (the offers show their own state).
    }
  };

  useEffect(() => {
    void refresh();
    void checkContact();
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") void refresh();
    }, REFRESH_MS);
    const onShow = () => {
      if (document.visibilityState !== "visible") return;
      void refresh();
      void checkContact();
    };
    // An offer that arrived as a notification (public/sw.js) is listed at once.
    const onPush = (event: MessageEvent) => {
      if ((event.data as { type?: string } | null)?.type === "spontan-push") void refresh();
    };
    window.addEventListener("focus", onShow);
    window.addEventListener("online", onShow);
    document.addEventListener("visibilitychange", onShow);
    navigator.serviceWorker?.addEventListener("message", onPush);
    return () => {
      clearInterval(timer);
      window.removeEventListener("focus", onShow);
      window.removeEventListener("online", onShow);
      document.removeEventListener("visibilitychange", onShow);
      navigator.serviceWorker?.removeEventListener("message", onPush);
    };
  }, []);

  const changed = (offer: Offer | undefined, text: string) => {
    if (offer) setOffers((list) => (list ?? []).map((o) => (o.matchId === offer.matchId ? offer : o)));
    setNotice({ kind: "success", text });
    void refresh();
  };
  const refused = (text: string) => {
    setNotice({ kind: "problem", text });
    void refresh();
  };

  const open = (offers ?? []).filter((o) => o.state === MatchState.OFFERED);
  const mine = (offers ?? []).filter((o) => o.state === MatchState.ACCEPTED || o.state === MatchState.CHECKED_IN);
  return (
    <Screen title={t("offers.title")}>
      {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
      {unconfirmed && <ConfirmFirst contact={unconfirmed.contact} />}
      {asking && push.module && <push.module.PushOffer onDone={() => setAsking(false)} />}
      {stale && (
        <Notice kind="info">
          {updatedAt ? t("offers.stale", { time: time(locale, updatedAt) }) : t("offers.offline")}
        </Notice>
      )}
      {offers === null && !stale && <p>{t("offers.loading")}</p>}
      {offers !== null && !open.length && !mine.length && (
        <div class="empty">
          <p>
            <strong>{t("offers.none")}</strong>
          </p>
          {!unconfirmed && <p>{t("offers.noneDetail")}</p>}
        </div>
      )}
      {open.length > 0 && (
        <section aria-labelledby="open-offers">
          <h2 id="open-offers">{t("offers.open")}</h2>
          {open.map((o) => (
            <OfferCard key={o.matchId} offer={o} onChanged={changed} onRefused={refused} />
          ))}
        </section>
      )}
      {mine.length > 0 && (
        <section aria-labelledby="my-tasks">
          <h2 id="my-tasks">{t("offers.mine")}</h2>
          {mine.map((o) => (
            <TaskCard key={o.matchId} offer={o} onChanged={changed} onRefused={refused} />
          ))}
        </section>
      )}
      {updatedAt && !stale && <p class="hint">{t("offers.updated", { time: time(locale, updatedAt) })}</p>}
    </Screen>
  );
}

interface CardProps {
  offer: Offer;
  onChanged: (offer: Offer | undefined, text: string) => void;
  onRefused: (text: string) => void;
}

const titleId = (o: Offer) => `task-${o.matchId}`;

function Facts(props: { offer: Offer; meeting?: boolean }) {
  const { t, locale } = useApp();
  const o = props.offer;
  const expires = ms(o.expiresAt);
  return (
    <dl class="facts">
      <dt>{t("offer.when")}</dt>
      <dd>{timeWindow(locale, o.window)}</dd>
      <dt>{props.meeting ? t("offer.meetingPoint") : t("offer.where")}</dt>
      <dd>
        {o.address || t("offer.noAddress")}
        <br />
        {t("offer.distance", { distance: km(locale, o.distanceKm) })}
      </dd>
      {o.state === MatchState.OFFERED && expires !== undefined && (
        <>
          <dt>{t("offer.answerBy")}</dt>
          <dd>{time(locale, expires)}</dd>
        </>
      )}
    </dl>
  );
}

function Priority(props: { offer: Offer }) {
  const { t } = useApp();
  const p = props.offer.priority;
  if (!p) return null;
  return <p class={`priority priority-${p}`}>{t("offer.priority", { priority: t(`priority.${p}` as Key) })}</p>;
}

/** Decline (or, for an accepted task, withdraw) with an optional reason from a closed list. */
function DeclineForm(props: CardProps & { withdraw?: boolean; onCancel: () => void }) {
  const { t, api, guard } = useApp();
  const [why, setWhy] = useState(DeclineReason.UNSPECIFIED);
  const [busy, setBusy] = useState(false);
  const id = `reason-${props.offer.matchId}`;
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    try {
      const r = await guard(
        api.matching.respondToOffer({ matchId: props.offer.matchId, decision: OfferDecision.DECLINE, declineReason: why }),
      );
      props.onChanged(r.offer, props.withdraw ? t("offer.withdrawn") : t("offer.declined"));
    } catch (error) {
      if (code(error) !== Code.Unauthenticated) props.onRefused(problemText(t, error));
      setBusy(false);
    }
  };
  const reasons = [
    DeclineReason.UNSPECIFIED,
    DeclineReason.NOT_AVAILABLE,
    DeclineReason.TOO_FAR,
    DeclineReason.NOT_QUALIFIED,
    DeclineReason.PERSONAL,
    DeclineReason.OTHER,
  ];
  return (
    <form class="decline" onSubmit={submit}>
      <div class="field">
        <label for={id}>{t("decline.reason")}</label>
        <select id={id} value={why} onChange={(e) => setWhy(Number((e.currentTarget as HTMLSelectElement).value))}>
          {reasons.map((r) => (
            <option key={r} value={r}>
              {t(`decline.${r}` as Key)}
            </option>
          ))}
        </select>
      </div>
      <div class="actions">
        <button type="submit" class="danger" disabled={busy} aria-describedby={titleId(props.offer)}>
          {props.withdraw ? t("action.confirmWithdraw") : t("action.confirmDecline")}
        </button>
        <button type="button" class="secondary" onClick={props.onCancel}>
          {t("action.cancel")}
        </button>
      </div>
    </form>
  );
}

function OfferCard(props: CardProps) {
  const { t, api, guard } = useApp();
  const [declining, setDeclining] = useState(false);
  const [busy, setBusy] = useState(false);
  const o = props.offer;
  const accept = async () => {
    setBusy(true);
    try {
      const r = await guard(api.matching.respondToOffer({ matchId: o.matchId, decision: OfferDecision.ACCEPT }));
      props.onChanged(r.offer, t("offer.accepted", { title: o.taskTitle }));
    } catch (error) {
      if (code(error) !== Code.Unauthenticated) props.onRefused(problemText(t, error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <article class="card" aria-labelledby={titleId(o)}>
      <h3 id={titleId(o)}>{o.taskTitle}</h3>
      <Priority offer={o} />
      <Facts offer={o} />
      {declining ? (
        <DeclineForm {...props} onCancel={() => setDeclining(false)} />
      ) : (
        <div class="actions">
          <button type="button" class="primary" disabled={busy} onClick={accept} aria-describedby={titleId(o)}>
            {t("action.accept")}
          </button>
          <button type="button" class="secondary" disabled={busy} onClick={() => setDeclining(true)} aria-describedby={titleId(o)}>
            {t("action.decline")}
          </button>
        </div>
      )}
    </article>
  );
}

/** The route to the meeting point: a link to OpenStreetMap's planner (nothing is fetched from it). */
function routeUrl(o: Offer): string | undefined {
  const p = o.meetingPoint;
  return p ? `https://www.openstreetmap.org/directions?to=${p.latitude}%2C${p.longitude}` : undefined;
}

/**
 * Check-in on site: the volunteer types the task's check-in code shown at the meeting point
 * (6 digits, rotating every 10 minutes), or scans its QR code ("Scan the code": a photo, read
 * by scan.ts, loaded then), and CheckIn records that they are there. A wrong code, and a QR
 * code of another task or none at all, are marked at the field.
 */
export function CheckInForm(props: CardProps) {
  const { t, api, guard, announce } = useApp();
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [scanning, setScanning] = useState(false);
  const photo = useRef<HTMLInputElement>(null);
  const o = props.offer;
  const id = `code-${o.matchId}`;
  const checkIn = async (checkInCode: string) => {
    setBusy(true);
    setError(null);
    try {
      await guard(api.matching.checkIn({ matchId: o.matchId, checkInCode }));
      props.onChanged({ ...o, state: MatchState.CHECKED_IN }, t("checkin.done", { title: o.taskTitle }));
    } catch (err) {
      const violations = fieldViolations(err)["check_in_code"];
      if (violations) setError(violations.join(" "));
      else if (code(err) !== Code.Unauthenticated) props.onRefused(problemText(t, err));
    } finally {
      setBusy(false);
    }
  };
  const submit = (e: Event) => {
    e.preventDefault();
    void checkIn(value.trim());
  };
  const scan = async (file: File | undefined) => {
    if (!file) return;
    setScanning(true);
    setError(null);
    announce(t("checkin.reading"));
    try {
      const { scanCheckIn } = await import("./scan");
      const found = await scanCheckIn(file);
      if (found.kind === "checkIn" && found.taskId === o.taskId.toLowerCase()) {
        setValue(found.code);
        setScanning(false);
        await checkIn(found.text);
      } else {
        const text =
          found.kind === "none"
            ? t("checkin.noCode")
            : found.kind === "foreign"
              ? t("checkin.notSpontan")
              : t("checkin.otherTask", { title: o.taskTitle });
        setError(text);
        announce(text);
      }
    } catch {
      setError(t("checkin.scanFailed"));
    } finally {
      setScanning(false);
      if (photo.current) photo.current.value = "";
    }
  };
  return (
    <form class="checkin" noValidate onSubmit={submit}>
      <div class={error ? "field invalid" : "field"}>
        <label for={id}>{t("checkin.code")}</label>
        <p id={`${id}-hint`} class="hint">
          {t("checkin.codeHint")}
        </p>
        {error && (
          <p id={`${id}-error`} class="field-error">
            {error}
          </p>
        )}
        <input
          id={id}
          type="text"
          inputMode="numeric"
          autoComplete="one-time-code"
          value={value}
          onInput={(e) => {
            setValue((e.currentTarget as HTMLInputElement).value);
            setError(null);
          }}
          aria-invalid={error ? "true" : undefined}
          aria-describedby={error ? `${id}-hint ${id}-error` : `${id}-hint`}
        />
        <button
          type="button"
          class="secondary scan"
          disabled={busy || scanning}
          onClick={() => photo.current?.click()}
          aria-describedby={titleId(o)}
        >
          {scanning ? t("checkin.reading") : t("action.scan")}
        </button>
        <input
          ref={photo}
          type="file"
          accept="image/*"
          capture="environment"
          hidden
          aria-label={t("action.scan")}
          onChange={(e) => void scan((e.currentTarget as HTMLInputElement).files?.[0])}
        />
      </div>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy || scanning} aria-describedby={titleId(o)}>
          {t("action.checkIn")}
        </button>
      </div>
    </form>
  );
}

/** Leaving the site: CheckOut completes the match and keeps the hours on site. */
function CheckOutButton(props: CardProps) {
  const { t, locale, api, guard } = useApp();
  const [busy, setBusy] = useState(false);
  const o = props.offer;
  const leave = async () => {
    setBusy(true);
    try {
      const r = await guard(api.matching.checkOut({ matchId: o.matchId }));
      const hours = new Intl.NumberFormat(locale === "de" ? "de-DE" : "en-GB", { maximumFractionDigits: 1 }).format(
        r.match?.hoursOnSite ?? 0,
      );
      props.onChanged(undefined, t("checkout.done", { title: o.taskTitle, hours }));
    } catch (error) {
      if (code(error) !== Code.Unauthenticated) props.onRefused(problemText(t, error));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="actions">
      <button type="button" class="secondary" disabled={busy} onClick={leave} aria-describedby={titleId(o)}>
        {t("action.checkOut")}
      </button>
    </div>
  );
}

function TaskCard(props: CardProps) {
  const { t } = useApp();
  const [withdrawing, setWithdrawing] = useState(false);
  const o = props.offer;
  const route = routeUrl(o);
  const checkedIn = o.state === MatchState.CHECKED_IN;
  return (
    <article class="card accepted" aria-labelledby={titleId(o)}>
      <h3 id={titleId(o)}>{o.taskTitle}</h3>
      <p class="state">{checkedIn ? t("task.checkedIn") : t("task.accepted")}</p>
      <Facts offer={o} meeting />
      {route && (
        <p>
          <a href={route} target="_blank" rel="noopener noreferrer">
            {t("task.route")}
          </a>
        </p>
      )}
      {!checkedIn && !withdrawing && (
        <>
          <CheckInForm {...props} />
          <div class="actions">
            <button type="button" class="secondary" onClick={() => setWithdrawing(true)} aria-describedby={titleId(o)}>
              {t("action.withdraw")}
            </button>
          </div>
        </>
      )}
      {!checkedIn && withdrawing && <DeclineForm {...props} withdraw onCancel={() => setWithdrawing(false)} />}
      {checkedIn && <CheckOutButton {...props} />}
    </article>
  );
}
