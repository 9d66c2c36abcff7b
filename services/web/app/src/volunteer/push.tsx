// "Alerts on this phone": offers as notifications through Web Push, loaded with import() only
// where it is shown (the profile's section, the one-time question after registering), so it
// costs the first screen nothing.
//
// Turning it on: the browser's permission (Notification.requestPermission, from the tap),
// a subscription of the service worker's push manager bound to the deployment's VAPID key
// (/config.json `vapidPublicKey`), then UpdateMyProfile with `channel_addresses.push_token`
// = the subscription's JSON (`toJSON()`: endpoint and keys) and `preferred_alert_channel` =
// APP_PUSH. The registration service then sends offers and withdrawals to the push service
// of this browser; public/sw.js shows them. Turning it off first moves the channel back to
// SMS (or e-mail when there is no number) and clears the token, then unsubscribes: alerts
// never point at a subscription that is gone.
//
// Which endpoint this device sent is remembered (`spontan.push`), so that a subscription the
// browser replaced or lost is sent again the next time the app opens (`syncSubscription`):
// the service worker cannot do that itself, as it holds no token to call the service with.
import { Code } from "@connectrpc/connect";
import { useEffect, useState } from "preact/hooks";
import { AlertChannel } from "../gen/spontan/v1/common_pb";
import type { VolunteerProfile } from "../gen/spontan/v1/registration_pb";
import { code } from "../lib/errors";
import { wordsOf } from "../lib/i18n";
import { PUSH_OFFER_KEY as OFFER_FLAG, PUSH_SENT_KEY as SENT, useApp, type App } from "./context";
import { trouble } from "./format";
import type { T } from "./messages";
import { Notice } from "./ui";


const en = {
  title: "Alerts on this phone",
  intro: "Get new offers as a notification on this phone the moment they come, instead of by {fallback}.",
  on: "On: offers come as notifications on this phone.",
  elsewhere: "Offers come as notifications to another device (or to this browser before its data was cleared).",
  off: "Off: offers come by {fallback}.",
  urgent:
    "While this is on, offers come only as notifications, not also by {fallback}. A notification cannot ring a phone that is on silent or switched off: if you want to be reached by {fallback} for sure, leave this off. If this phone cannot receive them any more (the app was removed), offers go by {fallback} again. Your {contact} stays in your profile either way, and coordinators of tasks you accept use it.",
  ios: "On iPhone and iPad notifications work only once Spontan is installed: in Safari tap Share, then “Add to Home Screen”, and open Spontan from there.",
  turnOn: "Turn on alerts on this phone",
  turnOnHere: "Get alerts on this phone instead",
  turnOff: "Turn off alerts on this phone",
  busy: "One moment…",
  turnedOn: "Alerts on this phone are on. You will get a notification for each new offer.",
  turnedOff: "Alerts on this phone are off. Offers come by {fallback} again.",
  denied:
    "Notifications are blocked for Spontan in this browser. Allow them in the browser's site settings, then try again.",
  dismissed: "You did not allow notifications. Offers keep coming by {fallback}.",
  noWorker: "This browser cannot receive notifications for Spontan right now. Reload the app and try again.",
  unsupported: "This browser cannot show notifications from web apps. Offers come by {fallback}.",
  install: "To get notifications, install Spontan first: in Safari tap Share, then “Add to Home Screen”.",
  offerTitle: "Get offers on this phone?",
  offerText:
    "We can send new offers as notifications to this phone. You can change this at any time under Profile.",
  notNow: "Not now",
  later: "You can turn on alerts later under Profile.",
  sms: "text message",
  email: "e-mail",
  either: "text message or e-mail",
  phoneContact: "mobile number",
  emailContact: "e-mail address",
};

const de: Record<keyof typeof en, string> = {
  title: "Benachrichtigungen auf diesem Telefon",
  intro: "Neue Angebote sofort als Benachrichtigung auf diesem Telefon erhalten, statt per {fallback}.",
  on: "An: Angebote kommen als Benachrichtigung auf dieses Telefon.",
  elsewhere:
    "Angebote kommen als Benachrichtigung auf ein anderes Gerät (oder an diesen Browser, bevor seine Daten gelöscht wurden).",
  off: "Aus: Angebote kommen per {fallback}.",
  urgent:
    "Solange dies an ist, kommen Angebote nur als Benachrichtigung, nicht zusätzlich per {fallback}. Eine Benachrichtigung kann ein stummgeschaltetes oder ausgeschaltetes Telefon nicht klingeln lassen: wenn Sie sicher per {fallback} erreicht werden wollen, lassen Sie dies aus. Kann dieses Telefon sie nicht mehr empfangen (die App wurde entfernt), kommen Angebote wieder per {fallback}. Ihre {contact} bleibt in jedem Fall in Ihrem Profil, und die Koordination angenommener Einsätze nutzt sie.",
  ios: "Auf iPhone und iPad funktionieren Benachrichtigungen erst, wenn Spontan installiert ist: in Safari auf Teilen tippen, dann „Zum Home-Bildschirm“, und Spontan von dort öffnen.",
  turnOn: "Benachrichtigungen auf diesem Telefon einschalten",
  turnOnHere: "Stattdessen auf diesem Telefon benachrichtigen",
  turnOff: "Benachrichtigungen auf diesem Telefon ausschalten",
  busy: "Einen Moment…",
  turnedOn: "Benachrichtigungen auf diesem Telefon sind an. Sie erhalten für jedes neue Angebot eine Benachrichtigung.",
  turnedOff: "Benachrichtigungen auf diesem Telefon sind aus. Angebote kommen wieder per {fallback}.",
  denied:
    "Benachrichtigungen sind für Spontan in diesem Browser blockiert. Erlauben Sie sie in den Website-Einstellungen des Browsers und versuchen Sie es noch einmal.",
  dismissed: "Sie haben Benachrichtigungen nicht erlaubt. Angebote kommen weiter per {fallback}.",
  noWorker:
    "Dieser Browser kann für Spontan gerade keine Benachrichtigungen empfangen. Laden Sie die App neu und versuchen Sie es noch einmal.",
  unsupported: "Dieser Browser kann keine Benachrichtigungen von Web-Apps anzeigen. Angebote kommen per {fallback}.",
  install:
    "Für Benachrichtigungen installieren Sie Spontan zuerst: in Safari auf Teilen tippen, dann „Zum Home-Bildschirm“.",
  offerTitle: "Angebote auf diesem Telefon erhalten?",
  offerText:
    "Wir können neue Angebote als Benachrichtigung an dieses Telefon schicken. Sie können das jederzeit unter Profil ändern.",
  notNow: "Jetzt nicht",
  later: "Sie können Benachrichtigungen später unter Profil einschalten.",
  sms: "SMS",
  email: "E-Mail",
  either: "SMS oder E-Mail",
  phoneContact: "Handynummer",
  emailContact: "E-Mail-Adresse",
};

const words = wordsOf({ en, de });

/** Why turning alerts on or off did not work. */
class PushProblem extends Error {
  constructor(readonly kind: "denied" | "dismissed" | "noWorker" | "unsupported") {
    super(kind);
  }
}

export type Support = "yes" | "install" | "no";

function installed(): boolean {
  return matchMedia("(display-mode: standalone)").matches || (navigator as { standalone?: boolean }).standalone === true;
}

/** Whether this browser can get Web Push; "install" on an iPhone or iPad whose Safari needs the app installed first. */
export function pushSupport(): Support {
  if ("serviceWorker" in navigator && "PushManager" in window && "Notification" in window) return "yes";
  const apple = /iPhone|iPad|iPod/.test(navigator.userAgent) || (/Macintosh/.test(navigator.userAgent) && navigator.maxTouchPoints > 1);
  return apple && !installed() ? "install" : "no";
}

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(base64url.length / 4) * 4, "=");
  const raw = atob(base64);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function sameKey(a: ArrayBuffer | null | undefined, b: Uint8Array): boolean {
  if (!a || a.byteLength !== b.length) return false;
  const view = new Uint8Array(a);
  return view.every((x, i) => x === b[i]);
}

/** The service worker's registration; waits for it a while (it installs on the first visit). */
async function worker(): Promise<ServiceWorkerRegistration> {
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new PushProblem("noWorker")), 10_000));
  return Promise.race([navigator.serviceWorker.ready, timeout]);
}

/** This browser's subscription, if it has one (never asks for anything). */
async function localSubscription(): Promise<PushSubscription | null> {
  if (pushSupport() !== "yes") return null;
  const registration = await navigator.serviceWorker.getRegistration();
  return (await registration?.pushManager.getSubscription()) ?? null;
}

/** The endpoint in a profile's push token (the JSON of a subscription), if it is one. */
function endpointOf(profile: VolunteerProfile): string | undefined {
  try {
    const token = JSON.parse(profile.channelAddresses?.pushToken || "null") as { endpoint?: unknown } | null;
    return typeof token?.endpoint === "string" ? token.endpoint : undefined;
  } catch {
    return undefined;
  }
}

/** The channel alerts go back to: SMS with a mobile number, else e-mail. */
function fallbackChannel(profile: VolunteerProfile): AlertChannel {
  return profile.contact?.phoneE164 ? AlertChannel.SMS : AlertChannel.EMAIL;
}

/**
 * UpdateMyProfile of the push fields, with the profile's version; when someone changed the
 * profile meanwhile (ABORTED), reads it again and repeats, as these two fields do not depend
 * on the others.
 */
async function update(
  app: App,
  current: VolunteerProfile | null,
  change: (p: VolunteerProfile) => { channel?: AlertChannel; token: string },
): Promise<VolunteerProfile> {
  let profile = current ?? (await app.guard(app.api.registration.getMyProfile({}))).profile!;
  for (let attempt = 1; ; attempt++) {
    const { channel, token } = change(profile);
    const paths = ["channel_addresses.push_token", ...(channel === undefined ? [] : ["preferred_alert_channel"])];
    try {
      const r = await app.guard(
        app.api.registration.updateMyProfile({
          profile: { version: profile.version, preferredAlertChannel: channel, channelAddresses: { pushToken: token } },
          updateMask: { paths },
        }),
      );
      return r.profile ?? profile;
    } catch (error) {
      if (code(error) !== Code.Aborted || attempt >= 3) throw error;
      profile = (await app.guard(app.api.registration.getMyProfile({}))).profile!;
    }
  }
}

async function subscribe(reg: ServiceWorkerRegistration, key: Uint8Array<ArrayBuffer>): Promise<PushSubscription> {
  let subscription = await reg.pushManager.getSubscription();
  // A subscription made for another key (the deployment's key changed) cannot receive our messages.
  if (subscription && !sameKey(subscription.options.applicationServerKey, key)) {
    await subscription.unsubscribe();
    subscription = null;
  }
  return subscription ?? (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }));
}

/** Turns alerts on this phone on (call from a tap: it asks for the permission). */
export async function enable(app: App, current: VolunteerProfile | null): Promise<VolunteerProfile> {
  if (pushSupport() !== "yes") throw new PushProblem("unsupported");
  if (Notification.permission === "denied") throw new PushProblem("denied");
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new PushProblem(permission === "denied" ? "denied" : "dismissed");
  const subscription = await subscribe(await worker(), keyBytes(app.config.vapidPublicKey));
  const token = JSON.stringify(subscription.toJSON());
  const profile = await update(app, current, () => ({ channel: AlertChannel.APP_PUSH, token }));
  localStorage.setItem(SENT, subscription.endpoint);
  return profile;
}

/** Turns them off: the channel goes back to SMS or e-mail first, then the subscription ends. */
export async function disable(app: App, current: VolunteerProfile | null): Promise<VolunteerProfile> {
  const profile = await update(app, current, (p) => ({ channel: fallbackChannel(p), token: "" }));
  localStorage.removeItem(SENT);
  try {
    await (await localSubscription())?.unsubscribe();
  } catch {
    // The service no longer sends to it; the browser drops it when it likes.
  }
  return profile;
}

/**
 * At start, when this device had turned alerts on: if the browser replaced or lost the
 * subscription, sends the new one (with the permission still granted); if alerts were moved
 * elsewhere meanwhile, forgets that this device had them.
 */
export async function syncSubscription(app: App): Promise<void> {
  const sent = localStorage.getItem(SENT);
  if (!sent || pushSupport() !== "yes" || Notification.permission !== "granted") return;
  const registration = await navigator.serviceWorker.getRegistration();
  if (!registration) return;
  const current = await registration.pushManager.getSubscription();
  if (current?.endpoint === sent) return;
  const profile = (await app.guard(app.api.registration.getMyProfile({}))).profile;
  if (!profile || profile.preferredAlertChannel !== AlertChannel.APP_PUSH || endpointOf(profile) !== sent) {
    localStorage.removeItem(SENT);
    return;
  }
  const subscription = await subscribe(registration, keyBytes(app.config.vapidPublicKey));
  const token = JSON.stringify(subscription.toJSON());
  await update(app, profile, () => ({ token }));
  localStorage.setItem(SENT, subscription.endpoint);
}

function problemText(t: T, w: ReturnType<typeof words>, error: unknown, fallback: string): string {
  if (error instanceof PushProblem) return w(error.kind, { fallback });
  if (error instanceof DOMException && error.name === "NotAllowedError") return w("denied");
  return trouble(t, error);
}

type State = "on" | "elsewhere" | "off";

/** The profile's section: what alerts go where, and the switch. */
export function PushSettings(props: { profile: VolunteerProfile; onProfile: (p: VolunteerProfile) => void }) {
  const app = useApp();
  const w = words(app.locale);
  const p = props.profile;
  const [local, setLocal] = useState<string | null | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<{ kind: "success" | "problem"; text: string } | null>(null);
  const support = pushSupport();
  useEffect(() => {
    localSubscription().then(
      (s) => setLocal(s?.endpoint ?? null),
      () => setLocal(null),
    );
  }, [p.version]);
  const phone = !!p.contact?.phoneE164;
  const fallback = phone ? w("sms") : w("email");
  const contact = phone ? w("phoneContact") : w("emailContact");
  const pushing = p.preferredAlertChannel === AlertChannel.APP_PUSH;
  const state: State = !pushing ? "off" : local && endpointOf(p) === local ? "on" : "elsewhere";

  const run = async (on: boolean) => {
    setBusy(true);
    setNotice(null);
    try {
      const next = on ? await enable(app, p) : await disable(app, p);
      props.onProfile(next);
      const text = on ? w("turnedOn") : w("turnedOff", { fallback: next.contact?.phoneE164 ? w("sms") : w("email") });
      setNotice({ kind: "success", text });
      app.announce(text);
    } catch (error) {
      if (code(error) === Code.Unauthenticated) return;
      const text = problemText(app.t, w, error, fallback);
      setNotice({ kind: "problem", text });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="push-title">
      <h2 id="push-title">{w("title")}</h2>
      {notice && <Notice kind={notice.kind}>{notice.text}</Notice>}
      <p>{w("intro", { fallback })}</p>
      {local !== undefined && (
        <p class="push-state">
          <strong>{state === "on" ? w("on") : state === "elsewhere" ? w("elsewhere") : w("off", { fallback })}</strong>
        </p>
      )}
      <p class="hint">{w("urgent", { fallback, contact })}</p>
      <p class="hint">{w("ios")}</p>
      {support === "install" && <p>{w("install")}</p>}
      {support === "no" && <p>{w("unsupported", { fallback })}</p>}
      {support === "yes" && local !== undefined && (
        <div class="actions">
          {state === "on" ? (
            <button type="button" class="secondary" disabled={busy} onClick={() => run(false)}>
              {busy ? w("busy") : w("turnOff")}
            </button>
          ) : (
            <button type="button" class="primary" disabled={busy} onClick={() => run(true)}>
              {busy ? w("busy") : state === "elsewhere" ? w("turnOnHere") : w("turnOn")}
            </button>
          )}
        </div>
      )}
    </section>
  );
}

/** Asked once after registering, on the offers screen; never in the way of anything. */
export function PushOffer(props: { onDone: () => void }) {
  const app = useApp();
  const w = words(app.locale);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const finish = (text: string) => {
    localStorage.removeItem(OFFER_FLAG);
    app.announce(text);
    props.onDone();
  };
  const yes = async () => {
    setBusy(true);
    setProblem(null);
    try {
      await enable(app, null);
      finish(w("turnedOn"));
    } catch (error) {
      if (code(error) === Code.Unauthenticated) return;
      if (error instanceof PushProblem && (error.kind === "denied" || error.kind === "dismissed")) {
        // Answered: no more asking here; the profile keeps the way back.
        localStorage.removeItem(OFFER_FLAG);
      }
      setProblem(`${problemText(app.t, w, error, w("either"))} ${w("later")}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="push-offer" aria-labelledby="push-offer-title">
      <h2 id="push-offer-title">{w("offerTitle")}</h2>
      {problem && <Notice kind="problem">{problem}</Notice>}
      <p>{w("offerText")}</p>
      <p class="hint">{w("ios")}</p>
      <div class="actions">
        <button type="button" class="primary" disabled={busy} onClick={yes}>
          {busy ? w("busy") : w("turnOn")}
        </button>
        <button type="button" class="secondary" disabled={busy} onClick={() => finish(w("later"))}>
          {w("notNow")}
        </button>
      </div>
    </section>
  );
}
