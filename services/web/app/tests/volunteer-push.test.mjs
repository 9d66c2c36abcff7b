// Offers as Web Push notifications, through the whole real path: the volunteer turns on
// "Alerts on this phone" in the app, a coordinator creates a task in the console, matching
// offers it, the registration service encrypts and signs the alert and sends it to the
// volunteer's push service, here the local mock of the npm package `web-push-testing`
// (which refuses a message whose VAPID signature or encryption is wrong, and decrypts the
// rest). Only the browser's subscribe is replaced (headless Chromium cannot reach a real push
// service): it hands out a subscription made by the mock for the deployment's VAPID key.
// Then the app's service worker gets that message (CDP) and shows the notification.
// Run through deploy/local/browser-test.sh [tests/volunteer-push.test.mjs].
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DESKTOP, PHONE, axeViolations, device, eventually, launch, screenshot, signInCoordinator, sql, suite } from "./support/browser.mjs";
import { createTask, hours, openIncident, registerVolunteer, taskIdOf, unique } from "./support/staff.mjs";
import {
  deliverPush,
  fakePushManager,
  shownNotifications,
  startPushService,
  tapNotification,
  webPushTesting,
} from "./support/volunteer.mjs";

/** Flensburg: far from the other tests' volunteers and tasks. */
const FLENSBURG = { latitude: 54.7836, longitude: 9.4321 };
const APP_PUSH = 6;
const EMAIL = 2;

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

const channelOf = (volunteerId) => Number(sql(suite.registrationDb, `SELECT preferred_channel FROM volunteers WHERE id = '${volunteerId}'`));

describe("volunteer app: alerts on this phone", { skip }, () => {
  test("turned on after registering, an offer reaches the push service and is shown; turned off in the profile", async () => {
    const config = await (await fetch(`${suite.web}/config.json`)).json();
    assert.ok(config.vapidPublicKey, "the suite has a VAPID key");
    const subscription = await push.subscribe(config.vapidPublicKey);

    const coordinator = await device(browser, DESKTOP);
    const context = await device(browser, PHONE, {
      geolocation: FLENSBURG,
      permissions: ["geolocation", "notifications"],
    });
    await fakePushManager(context, { endpoint: subscription.endpoint, keys: subscription.keys });
    try {
      const email = `push-${Date.now()}-${process.pid}@example.org`;
      const page = await registerVolunteer(context, { name: "Paula Push", contact: email });
      const { volunteerId } = await page.evaluate(() => JSON.parse(localStorage.getItem("spontan.session")));
      assert.equal(channelOf(volunteerId), EMAIL, "registered with e-mail alerts");

      // Asked once, on the offers screen, without being in the way of anything.
      await page.getByRole("heading", { level: 2, name: "Get offers on this phone?" }).waitFor();
      assert.deepEqual(await axeViolations(page), [], "axe-core on the offers screen with the question");
      await screenshot(page, "volunteer-push-offer-phone");
      await page.getByRole("button", { name: "Turn on alerts on this phone" }).click();
      await page.getByRole("heading", { level: 2, name: "Get offers on this phone?" }).waitFor({ state: "detached" });
      await eventually(() => channelOf(volunteerId) === APP_PUSH, { what: "the channel APP_PUSH stored" });
      // The app subscribed with the deployment's key, and the question is not asked again.
      assert.equal(await page.evaluate(() => localStorage.getItem("test.push.key")), config.vapidPublicKey);
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor();
      assert.equal(await page.getByRole("heading", { name: "Get offers on this phone?" }).count(), 0);

      // The profile says where offers go.
      await page.getByRole("link", { name: "Profile" }).click();
      await page.getByRole("heading", { level: 2, name: "Alerts on this phone" }).waitFor();
      await page.getByText("On: offers come as notifications on this phone.").waitFor();
      await page.getByText(/not also by e-mail/).waitFor();
      await page.getByText(/iPhone and iPad .* installed/).waitFor();
      await page.getByText("App notification", { exact: true }).waitFor();
      assert.deepEqual(await axeViolations(page), [], "axe-core on the profile with alerts on");
      await page.getByRole("heading", { level: 2, name: "Alerts on this phone" }).scrollIntoViewIfNeeded();
      await screenshot(page, "volunteer-alerts-phone");

      // A coordinator's task near the volunteer: matching offers it, the alert goes out by
      // Web Push, and the push service receives one message naming the match.
      const console_ = await signInCoordinator(coordinator);
      await openIncident(console_, { name: unique("Hochwasser Flensburg"), ...FLENSBURG, radiusKm: 15 });
      const title = unique("Sandsäcke am Hafen");
      const taskId = await taskIdOf(
        await createTask(console_, {
          title,
          priority: "High",
          headcount: 1,
          start: hours(1),
          end: hours(3),
          ...FLENSBURG,
          address: "Schiffbrücke 1, 24939 Flensburg",
          maxDistanceKm: 20,
        }),
      );
      const matchId = await eventually(
        () => sql(suite.matchingDb, `SELECT id FROM matches WHERE task_id = '${taskId}' AND volunteer_id = '${volunteerId}'`),
        { timeoutMs: 40_000, what: "the offer to the volunteer" },
      );
      const messages = await eventually(async () => {
        const list = await push.messages(subscription.clientHash);
        return list.length ? list : null;
      }, { timeoutMs: 40_000, what: "a message at the push service" });
      // Give a duplicate every chance to arrive before counting.
      await new Promise((r) => setTimeout(r, 1000));
      const all = await push.messages(subscription.clientHash);
      assert.equal(all.length, 1, `one message: ${JSON.stringify(all)}`);
      const payload = JSON.parse(messages[0]);
      assert.equal(payload.type, "offer");
      assert.equal(payload.match_id, matchId);
      assert.equal(payload.task_title, title);
      assert.ok(Date.parse(payload.expires_at) > Date.now(), "the offer's deadline");
      assert.equal(
        sql(suite.registrationDb, `SELECT status || '|' || channel FROM alerts WHERE match_id = '${matchId}' AND kind = 'offer'`),
        `sent|${APP_PUSH}`,
      );

      // The service worker shows it (in English, the app's language here), one per match.
      await deliverPush(page, messages[0]);
      const [shown] = await eventually(async () => {
        const list = await shownNotifications(context);
        return list.length ? list : null;
      }, { what: "the notification" });
      assert.equal(shown.title, `New offer: ${title}`);
      assert.match(shown.body, /^Please answer by \d\d:\d\d: open Spontan to accept or decline\.$/);
      assert.equal(shown.tag, `match-${matchId}`);
      assert.equal(shown.data.url, "/#/offers");

      // Tapping it brings the open app to the offers, where the offer is.
      await tapNotification(context, `match-${matchId}`);
      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor();
      assert.equal(new URL(page.url()).hash, "#/offers");
      await page.locator("article.card", { has: page.getByRole("heading", { name: title, exact: true }) }).waitFor({ timeout: 20_000 });

      // In German, a withdrawal replaces the offer's notification.
      await page.getByRole("button", { name: "Deutsch" }).click();
      await page.getByRole("heading", { level: 1, name: "Ihre Angebote" }).waitFor();
      await eventually(
        async () =>
          (await page.evaluate(async () => (await (await caches.open("spontan-settings")).match("/settings/locale"))?.text())) === "de",
        { what: "the language left for the service worker" },
      );
      await deliverPush(page, JSON.stringify({ type: "withdrawn", match_id: matchId, task_title: title }));
      await eventually(async () => {
        const list = await shownNotifications(context);
        return list.length === 1 && list[0].title === `Angebot zurückgezogen: ${title}` ? list : null;
      }, { what: "the withdrawal in German, in place of the offer" });
      await page.getByRole("button", { name: "English" }).click();

      // Off again in the profile: the channel goes back to e-mail and the subscription ends.
      await page.getByRole("link", { name: "Profile" }).click();
      await page.getByRole("button", { name: "Turn off alerts on this phone" }).click();
      await page.getByText("Off: offers come by e-mail.").waitFor();
      await eventually(() => channelOf(volunteerId) === EMAIL, { what: "the channel EMAIL stored" });
      assert.equal(await page.evaluate(() => localStorage.getItem("test.push.unsubscribed")), "1");
      assert.equal(await page.evaluate(() => localStorage.getItem("test.push.key")), null);
    } finally {
      await context.close();
      await coordinator.close();
    }
  });

  test("blocked notifications are explained, and registration is not held up by the question", async () => {
    const context = await device(browser, PHONE, { geolocation: FLENSBURG, permissions: ["geolocation"] });
    try {
      // No notifications permission granted: Chromium answers "denied" headless.
      const page = await registerVolunteer(context, { name: "Nora Nein", contact: `nope-${Date.now()}@example.org` });
      // The offers screen is usable under the question.
      await page.getByText("No offers right now.").waitFor();
      await page.getByRole("button", { name: "Turn on alerts on this phone" }).click();
      await page.getByText(/^(Notifications are blocked for Spontan|You did not allow notifications)/).waitFor();
      const { volunteerId } = await page.evaluate(() => JSON.parse(localStorage.getItem("spontan.session")));
      assert.equal(channelOf(volunteerId), EMAIL, "nothing changed");
      // Answered: not asked again.
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor();
      assert.equal(await page.getByRole("heading", { name: "Get offers on this phone?" }).count(), 0);
    } finally {
      await context.close();
    }
  });
});
