// Coordinators' messages and reminders as Web Push notifications, through the whole real
// path (as tests/volunteer-push.test.mjs does for offers): a volunteer with "Alerts on this
// phone" accepts a task; the coordinator sends the task's volunteers a message in the
// console; the registration service pushes it to the local mock push service, and the app's
// service worker shows it with the whole text as its body, beside the offer's notification
// (not in its place), once even when delivered twice. The reminder the service sends because
// the task starts within the hour, and a message to the whole incident, are shown in German.
// Run through deploy/local/browser-test.sh [tests/volunteer-push-messages.test.mjs].
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DESKTOP, PHONE, device, eventually, launch, signInCoordinator, sql, suite } from "./support/browser.mjs";
import { createTask, hours, offerAcceptButton, openIncident, registerVolunteer, taskIdOf, unique } from "./support/staff.mjs";
import { deliverPush, fakePushManager, shownNotifications, startPushService, webPushTesting } from "./support/volunteer.mjs";

/** Bamberg: far from the other tests' volunteers and tasks. */
const BAMBERG = { latitude: 49.8988, longitude: 10.9028 };
const APP_PUSH = 6;

const skip = webPushTesting ? false : "SPONTAN_WEB_PUSH_TESTING is not set (deploy/local/browser-test.sh installs web-push-testing)";

let browser;
let push;
before(async () => {
  if (skip) return;
  browser = await launch();
  push = await startPushService();
});
after(async () => {
  await browser?.close();
  push?.stop();
});

describe("volunteer app: messages and reminders on this phone", { skip }, () => {
  test("a coordinator's message and a reminder are shown with their text, beside the offer", { timeout: 240_000 }, async () => {
    const config = await (await fetch(`${suite.web}/config.json`)).json();
    const subscription = await push.subscribe(config.vapidPublicKey);
    /** The payloads of `type` the push service received, parsed, oldest first. */
    const received = async (type) =>
      (await push.messages(subscription.clientHash)).map((m) => [m, JSON.parse(m)]).filter(([, p]) => p.type === type);
    const next = (type, which = () => true, timeoutMs = 40_000) =>
      eventually(async () => (await received(type)).find(([, p]) => which(p)), { timeoutMs, intervalMs: 500, what: `a "${type}" at the push service` });

    const coordinator = await device(browser, DESKTOP);
    const context = await device(browser, PHONE, { geolocation: BAMBERG, permissions: ["geolocation", "notifications"] });
    await fakePushManager(context, { endpoint: subscription.endpoint, keys: subscription.keys });
    try {
      const app = await registerVolunteer(context, { name: "Kunigunde Domberg", contact: `kunigunde-${Date.now()}-${process.pid}@example.org`, radius: 10 });
      const { volunteerId } = await app.evaluate(() => JSON.parse(localStorage.getItem("spontan.session")));
      await app.getByRole("button", { name: "Turn on alerts on this phone" }).click();
      await eventually(
        () => Number(sql(suite.registrationDb, `SELECT preferred_channel FROM volunteers WHERE id = '${volunteerId}'`)) === APP_PUSH,
        { what: "the channel APP_PUSH stored" },
      );

      // A task starting within the hour (so a reminder is due once accepted), accepted.
      const page = await signInCoordinator(coordinator);
      await openIncident(page, { name: unique("Hochwasser Regnitz"), ...BAMBERG, radiusKm: 15 });
      const title = unique("Sandsäcke am Alten Rathaus");
      const taskId = await taskIdOf(
        await createTask(page, {
          title,
          priority: "High",
          headcount: 1,
          start: hours(1),
          end: hours(3),
          ...BAMBERG,
          address: "Obere Brücke 1, Bamberg",
          maxDistanceKm: 20,
        }),
      );
      await (await offerAcceptButton(app, title)).click();
      await app.getByText(`You accepted “${title}”`).waitFor();
      const matchId = sql(suite.matchingDb, `SELECT id FROM matches WHERE task_id = '${taskId}' AND volunteer_id = '${volunteerId}'`);
      await eventually(() => Number(sql(suite.registrationDb, `SELECT count(*) FROM matches_seen WHERE match_id = '${matchId}' AND state = 3`)) === 1, {
        timeoutMs: 30_000,
        what: "the acceptance in the registration service",
      });

      // The coordinator writes to the task's volunteers.
      const section = page.getByRole("region", { name: "Messages to volunteers" });
      const body = "Treffpunkt verlegt:\nParkplatz am Schönleinsplatz";
      await section.getByLabel("Message", { exact: true }).fill(body);
      await section.getByLabel("To", { exact: true }).selectOption({ label: title });
      await section.getByRole("button", { name: "Send", exact: true }).click();
      await section.getByRole("status").getByText("Message sent to 1 volunteer(s). Its delivery is shown below.").waitFor();
      const [raw, payload] = await next("message", (p) => p.text.endsWith(body));
      assert.equal(payload.match_id, matchId);
      assert.equal(payload.task_title, title);
      assert.ok(payload.text.endsWith(`\n${body}`), `the whole text, line breaks kept: ${JSON.stringify(payload.text)}`);
      await section.locator("li.messaging__item").first().getByText("1 of 1 sent · 0 pending · 0 failed · 0 opted out").waitFor({ timeout: 20_000 });

      // Shown beside the offer's notification, not in its place; a second delivery shows once.
      const [offerRaw] = await next("offer");
      await deliverPush(app, offerRaw);
      await eventually(async () => (await shownNotifications(context)).length === 1, { what: "the offer's notification" });
      await deliverPush(app, raw);
      await deliverPush(app, raw);
      const shown = await eventually(
        async () => {
          const list = await shownNotifications(context);
          return list.length === 2 && list.some((n) => n.tag.startsWith("message-")) ? list : null;
        },
        { what: "the message beside the offer" },
      );
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await shownNotifications(context)).length, 2, "the repeated delivery replaced its copy");
      const message = shown.find((n) => n.tag.startsWith("message-"));
      assert.equal(message.title, `Message from the coordinators: ${title}`);
      assert.equal(message.body, payload.text);
      assert.ok(shown.some((n) => n.tag === `match-${matchId}` && n.title === `New offer: ${title}`), `the offer's notification stays: ${JSON.stringify(shown)}`);

      // In German: the reminder (the task starts within the hour; the service looks every minute).
      await app.getByRole("button", { name: "Deutsch" }).click();
      await app.getByRole("heading", { level: 1, name: "Ihre Angebote" }).waitFor();
      await eventually(
        async () => (await app.evaluate(async () => (await (await caches.open("spontan-settings")).match("/settings/locale"))?.text())) === "de",
        { what: "the language left for the service worker" },
      );
      const [reminderRaw, reminder] = await next("reminder", undefined, 90_000);
      assert.equal(reminder.match_id, matchId);
      assert.ok(reminder.text.includes(title), reminder.text);
      await deliverPush(app, reminderRaw);
      const shownReminder = await eventually(
        async () => (await shownNotifications(context)).find((n) => n.tag.startsWith("reminder-")),
        { what: "the reminder's notification" },
      );
      assert.equal(shownReminder.title, `Erinnerung: ${title}`);
      assert.equal(shownReminder.body, reminder.text);

      // A message to the whole incident has no task in its title.
      const all = "Achtung: Pegel steigt. Bitte nicht mehr ans Ufer kommen!";
      await section.getByLabel("Message", { exact: true }).fill(all);
      await section.getByLabel("To", { exact: true }).selectOption({ label: "All tasks of the incident" });
      await section.getByRole("button", { name: "Send", exact: true }).click();
      await section.getByRole("alertdialog").getByRole("button", { name: "Yes, send" }).click();
      await section.getByRole("status").getByText("Message sent to 1 volunteer(s). Its delivery is shown below.").waitFor();
      const [incidentRaw, incidentWide] = await next("message", (p) => p.text.endsWith(all));
      assert.equal(incidentWide.task_title, "");
      await deliverPush(app, incidentRaw);
      const shownAll = await eventually(
        async () => {
          const list = await shownNotifications(context);
          const found = list.find((n) => n.title === "Nachricht der Einsatzleitung");
          if (!found) throw new Error(JSON.stringify(list));
          return found;
        },
        { what: "the incident-wide message's notification" },
      );
      assert.ok(shownAll.body.endsWith(all), shownAll.body);
      // Each its own notification. (Headless Chromium closes a notification that does not
      // ask for interaction after a while, so the earlier ones are not counted here; the
      // offer's, which asks for interaction, stays.)
      assert.equal(new Set([`match-${matchId}`, message.tag, shownReminder.tag, shownAll.tag]).size, 4);
      assert.ok((await shownNotifications(context)).some((n) => n.tag === `match-${matchId}`), "the offer's notification is still shown");
    } finally {
      await context.close();
      await coordinator.close();
    }
  });
});
