// The volunteer app in a real browser against the real suite: registration (and what the
// server refuses), a registration through a dropping network, the profile, erasure,
// accessibility of every screen and the screenshots in docs/screenshots/.
// Run through deploy/local/browser-test.sh [tests/volunteer.test.mjs].
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DESKTOP, PHONE, axeViolations, device, eventually, launch, screenshot, signInCoordinator, sql, suite } from "./support/browser.mjs";
import { createTask, hours, openIncident, taskIdOf, unique } from "./support/staff.mjs";
import { checkInCode } from "./support/volunteer.mjs";

/** Somewhere in the Ahr valley: where the demo incident is. */
const HOME = { latitude: 50.5447, longitude: 7.113 };

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

let serial = 0;
/** A contact nobody else used, so that rows can be told apart. */
function uniqueEmail(what) {
  serial += 1;
  return `${what}-${Date.now()}-${process.pid}-${serial}@example.org`;
}

const volunteerCount = () => Number(sql(suite.registrationDb, "SELECT count(*) FROM volunteers"));

/** A phone of one person, with the location permission granted (the "Use my location" path). */
function phone(options = {}) {
  return device(browser, PHONE, { geolocation: HOME, permissions: ["geolocation"], ...options });
}

async function openApp(context) {
  const page = await context.newPage();
  await page.goto(suite.web);
  await page.getByRole("heading", { level: 1, name: "About you" }).waitFor();
  return page;
}

/** Screen 1: "About you". */
async function fillAbout(page, { name, contact, birthYear }) {
  await page.getByLabel("Your name", { exact: true }).fill(name);
  await page.getByLabel("Mobile number or e-mail", { exact: true }).fill(contact);
  await page.getByLabel("Year of birth", { exact: true }).fill(String(birthYear));
  await page.getByRole("button", { name: "Next", exact: true }).click();
  await page.getByRole("heading", { level: 1, name: "What you can do" }).waitFor();
}

/** Screen 2: "What you can do": the device's location, optionally a radius, one skill. */
async function fillSkills(page, { radius, skill = "Sandbag filling" } = {}) {
  await page.getByRole("button", { name: "Use my location" }).click();
  const location = page.getByLabel("Where you start from (latitude, longitude)", { exact: true });
  await eventually(async () => (await location.inputValue()).includes(","), { what: "the device location" });
  if (radius !== undefined) await page.getByLabel("How far will you travel? (km)", { exact: true }).fill(String(radius));
  if (skill) await page.getByLabel(skill, { exact: true }).check();
  await page.getByRole("button", { name: "Next", exact: true }).click();
  await page.getByRole("heading", { level: 1, name: "Consent" }).waitFor();
}

/** Screen 3: "Consent": ticks the box (Register is pressed by the caller). */
async function consent(page) {
  await page.getByLabel(/^I agree that Spontan stores my details/).check();
}

async function register(page, person, extra = {}) {
  await fillAbout(page, person);
  await fillSkills(page, extra);
  await consent(page);
  await page.getByRole("button", { name: "Register" }).click();
}

/** The texts an input is described by (its hint and its errors), joined. */
async function description(page, locator) {
  const ids = ((await locator.getAttribute("aria-describedby")) ?? "").split(/\s+/).filter(Boolean);
  const texts = [];
  for (const id of ids) texts.push(await page.locator(`[id="${id}"]`).innerText());
  return texts.join(" | ");
}

/** The card of one offer or accepted task in the volunteer app. */
function card(page, title) {
  return page.locator("article.card", { has: page.getByRole("heading", { level: 3, name: title, exact: true }) });
}

async function assertAccessible(page, screen) {
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], `axe-core on the ${screen} screen`);
}

describe("volunteer app", () => {
  test("a volunteer registers on a phone and sees their profile", async () => {
    const context = await phone();
    try {
      const before = volunteerCount();
      const started = Date.now();
      const page = await openApp(context);
      const name = "Anna Beispiel";
      await register(page, { name, contact: uniqueEmail("anna"), birthYear: 1990 });
      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor();
      // The budget (under 20 s for a scripted user) is reported, not asserted.
      console.log(`volunteer registration through the UI: ${Date.now() - started} ms (budget 20000 ms)`);
      await page.getByText(`Welcome, ${name}! You are registered.`).waitFor();
      await eventually(() => volunteerCount() === before + 1, { what: "one more volunteer row" });

      await page.getByText("No offers right now.").waitFor();
      await assertAccessible(page, "offers");
      await screenshot(page, "volunteer-offers-phone");

      await page.getByRole("link", { name: "Profile" }).click();
      await page.getByRole("heading", { level: 1, name: "Your profile" }).waitFor();
      await page.getByText(name, { exact: true }).waitFor();
      await page.getByText("Sandbag filling", { exact: true }).waitFor();
      await page.getByText("Active: you receive offers").waitFor();
      await assertAccessible(page, "profile");
      await screenshot(page, "volunteer-profile-phone");

      // Pause and resume.
      await page.getByRole("button", { name: "Pause offers" }).click();
      await page.getByText("Paused: no new offers").waitFor();
      await page.getByRole("button", { name: "Resume offers" }).click();
      await page.getByText("Active: you receive offers").waitFor();

      // The token is on the device, and survives a reload (the app stays on the same screen).
      const session = await page.evaluate(() => JSON.parse(localStorage.getItem("spontan.session")));
      assert.match(session.volunteerId, /^[0-9a-f-]{36}$/);
      assert.ok(session.expiresAt > Date.now(), "the token has an expiry in the future");
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Your profile" }).waitFor();
      await page.getByText(name, { exact: true }).waitFor();
    } finally {
      await context.close();
    }
  });

  test("every field the server refuses is marked at its field, all at once", async () => {
    const context = await phone();
    try {
      const before = volunteerCount();
      const page = await openApp(context);
      // The app accepts both (a four-digit year, a number of km); the server refuses both:
      // under 16, and a radius beyond 200 km.
      await fillAbout(page, { name: "Too Young", contact: uniqueEmail("young"), birthYear: 2015 });
      await fillSkills(page, { radius: 500 });
      await consent(page);
      await page.getByRole("button", { name: "Register" }).click();

      // The first screen with a problem comes back, with the summary of all problems.
      await page.getByRole("heading", { level: 1, name: "About you" }).waitFor();
      const summary = page.getByRole("alert").filter({ hasText: "Please check these entries (2)" });
      await summary.waitFor();
      assert.match(await summary.innerText(), /Year of birth/);
      assert.match(await summary.innerText(), /How far will you travel/);

      const year = page.getByLabel("Year of birth", { exact: true });
      assert.equal(await year.getAttribute("aria-invalid"), "true");
      assert.match(await description(page, year), /at least 16/);
      await assertAccessible(page, "about (with errors)");
      await screenshot(page, "volunteer-errors-phone");

      // The radius's problem waits on its own screen.
      await page.getByRole("button", { name: "Next", exact: true }).click();
      await page.getByRole("heading", { level: 1, name: "What you can do" }).waitFor();
      const radius = page.getByLabel("How far will you travel? (km)", { exact: true });
      assert.equal(await radius.getAttribute("aria-invalid"), "true");
      assert.match(await description(page, radius), /between 1 and 200/);
      // Fields the server accepted are not marked.
      const location = page.getByLabel("Where you start from (latitude, longitude)", { exact: true });
      assert.equal(await location.getAttribute("aria-invalid"), null);
      await assertAccessible(page, "what you can do (with errors)");

      assert.equal(volunteerCount(), before, "nothing was stored");

      // Correcting both registers.
      await radius.fill("25");
      assert.equal(await radius.getAttribute("aria-invalid"), null, "editing a field clears its mark");
      await page.getByRole("button", { name: "Back", exact: true }).click();
      await page.getByLabel("Year of birth", { exact: true }).fill("1985");
      await page.getByRole("button", { name: "Next", exact: true }).click();
      await page.getByRole("button", { name: "Next", exact: true }).click();
      await page.getByRole("button", { name: "Register" }).click();
      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor();
      await eventually(() => volunteerCount() === before + 1, { what: "the corrected registration" });
    } finally {
      await context.close();
    }
  });

  test("a registration sent while offline waits, then completes once, when the network returns", async () => {
    const context = await phone();
    try {
      const page = await openApp(context);
      await fillAbout(page, { name: "Offline Olga", contact: uniqueEmail("offline"), birthYear: 1977 });
      await fillSkills(page);
      await consent(page);
      const before = volunteerCount();
      await context.setOffline(true);
      await page.getByRole("button", { name: "Register" }).click();
      await page.getByText("Waiting for the network: we keep trying.", { exact: true }).first().waitFor();
      // Stored on the device before anything went out.
      const pending = await page.evaluate(() => JSON.parse(localStorage.getItem("spontan.outbox.register")));
      assert.match(pending.key, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      await assertAccessible(page, "consent (waiting for the network)");
      await screenshot(page, "volunteer-waiting-phone");
      assert.equal(volunteerCount(), before);

      await context.setOffline(false);
      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor({ timeout: 20_000 });
      await eventually(() => volunteerCount() === before + 1, { what: "the registration after the network came back" });
      assert.equal(await page.evaluate(() => localStorage.getItem("spontan.outbox.register")), null, "the outbox is empty");
    } finally {
      await context.close();
    }
  });

  test("answers lost on the way back: the retries reuse the key and one volunteer results", async () => {
    // Service workers blocked so that every request passes the route below.
    const context = await phone({ serviceWorkers: "block" });
    try {
      const page = await openApp(context);
      await fillAbout(page, { name: "Lost Answer", contact: uniqueEmail("lost"), birthYear: 1964 });
      await fillSkills(page);
      await consent(page);
      const bodies = [];
      const LOST = 2;
      // The first two registrations reach the server and are stored there, but their answers
      // never reach the phone (the connection resets): the app must retry with the same key.
      await context.route("**/spontan.v1.RegistrationService/Register", async (route) => {
        const request = route.request();
        if (request.method() !== "POST") return route.continue();
        bodies.push(request.postDataBuffer());
        if (bodies.length <= LOST) {
          await route.fetch();
          return route.abort("connectionreset");
        }
        return route.continue();
      });
      const before = volunteerCount();
      await page.getByRole("button", { name: "Register" }).click();
      await page.getByText("Waiting for the network: we keep trying.", { exact: true }).first().waitFor();
      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor({ timeout: 30_000 });
      assert.equal(bodies.length, LOST + 1, "two lost answers, then one that arrived");
      for (const body of bodies.slice(1)) assert.ok(body.equals(bodies[0]), "every retry sends the same request and key");
      // Give a late duplicate every chance to appear before counting.
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(volunteerCount(), before + 1, "exactly one volunteer for three deliveries");
    } finally {
      await context.close();
    }
  });

  test("the session is refreshed before the access token ends and after it ran out; an ended session signs out to the start", async () => {
    const context = await phone();
    try {
      const page = await openApp(context);
      await register(page, { name: "Tom Token", contact: uniqueEmail("token"), birthYear: 1995 });
      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor();
      const stored = () => page.evaluate(() => JSON.parse(localStorage.getItem("spontan.session")));
      const first = await stored();
      assert.match(first.refreshToken, /^[\w-]{43}$/, "a refresh token from Register");
      assert.ok(first.expiresAt - Date.now() <= 15 * 60_000 + 5_000, "the access token lives minutes");
      assert.ok(first.refreshExpiresAt - Date.now() > 100 * 86_400_000, "the session lives months");
      const refreshed = () =>
        page.waitForResponse((r) => r.url().endsWith("/spontan.v1.RegistrationService/RefreshSession") && r.request().method() === "POST");

      // Pretend the token was issued long ago: less than a third of its life is left.
      const faked = await page.evaluate(() => {
        const s = JSON.parse(localStorage.getItem("spontan.session"));
        s.issuedAt = s.expiresAt - 10 * (s.expiresAt - Date.now());
        localStorage.setItem("spontan.session", JSON.stringify(s));
        return s.issuedAt;
      });
      let refresh = refreshed();
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor();
      assert.equal((await refresh).request().headers().authorization, undefined, "the refresh token is the credential");
      const second = await eventually(
        () =>
          page.evaluate((old) => {
            const s = JSON.parse(localStorage.getItem("spontan.session"));
            return s.issuedAt > old + 60_000 ? s : null;
          }, faked),
        { what: "the renewed tokens stored" },
      );
      assert.equal(second.volunteerId, first.volunteerId);
      assert.match(second.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
      assert.notEqual(second.refreshToken, first.refreshToken, "each refresh replaces the refresh token");

      // The phone was put away until the access token ran out: the app refreshes instead of
      // signing out, and the offers load with the new token.
      await page.evaluate(() => {
        const s = JSON.parse(localStorage.getItem("spontan.session"));
        s.expiresAt = Date.now() - 60_000;
        s.issuedAt = s.expiresAt - 15 * 60_000;
        localStorage.setItem("spontan.session", JSON.stringify(s));
      });
      refresh = refreshed();
      await page.reload();
      await refresh;
      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor();
      const third = await eventually(
        async () => {
          const s = await stored();
          return s.expiresAt > Date.now() ? s : null;
        },
        { what: "tokens after the access token ran out" },
      );
      assert.notEqual(third.refreshToken, second.refreshToken);
      assert.equal(await page.getByText("Your session has ended on this device.").count(), 0);

      // A session the server has ended (here: tokens it never issued) signs out to the start.
      await page.evaluate(() => {
        const s = JSON.parse(localStorage.getItem("spontan.session"));
        s.token = "not-a-token";
        s.refreshToken = "not-a-refresh-token";
        localStorage.setItem("spontan.session", JSON.stringify(s));
      });
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "About you" }).waitFor();
      await page.getByText("Your session has ended on this device.").first().waitFor();
      assert.equal(await page.evaluate(() => localStorage.getItem("spontan.session")), null);
    } finally {
      await context.close();
    }
  });

  test("signing out the other devices keeps this one and ends a copy of its old tokens", async () => {
    const context = await phone();
    const other = await phone();
    try {
      const page = await openApp(context);
      await register(page, { name: "Dora Devices", contact: uniqueEmail("devices"), birthYear: 1988 });
      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor();
      const before = await page.evaluate(() => localStorage.getItem("spontan.session"));

      // The same tokens on a second device (a copy, as a thief would hold them).
      const copy = await other.newPage();
      await copy.goto(suite.web);
      await copy.evaluate((s) => localStorage.setItem("spontan.session", s), before);
      await copy.reload();
      await copy.getByRole("heading", { level: 1, name: "Your offers" }).waitFor();

      await page.getByRole("link", { name: "Profile" }).click();
      await page.getByRole("heading", { level: 1, name: "Your profile" }).waitFor();
      // Tokens issued in the second of the sign-out stay good: let that second pass.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await page.getByRole("button", { name: "Sign out on other devices" }).click();
      await page.getByText(/^Signed out on every other device/).waitFor();
      const after = await page.evaluate(() => JSON.parse(localStorage.getItem("spontan.session")));
      assert.notEqual(after.token, JSON.parse(before).token, "this device has a new access token");
      assert.notEqual(after.refreshToken, JSON.parse(before).refreshToken, "and a new refresh token");

      // This device goes on working; the copy is signed out at its next call to the
      // registration service (matching takes its access token until it ends, minutes).
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Your profile" }).waitFor();
      await page.getByText("Dora Devices").first().waitFor();
      await copy.getByRole("link", { name: "Profile" }).click();
      await copy.getByRole("heading", { level: 1, name: "About you" }).waitFor();
      await copy.getByText("Your session has ended on this device.").first().waitFor();
    } finally {
      await context.close();
      await other.close();
    }
  });

  test("erasure from the app signs out and leaves nothing personal behind", async () => {
    const context = await phone();
    try {
      const page = await openApp(context);
      await register(page, { name: "Erika Löschen", contact: uniqueEmail("erase"), birthYear: 1958 });
      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor();
      const { volunteerId } = await page.evaluate(() => JSON.parse(localStorage.getItem("spontan.session")));
      await page.getByRole("link", { name: "Profile" }).click();
      await page.getByRole("heading", { level: 1, name: "Your profile" }).waitFor();

      await page.getByRole("button", { name: "Delete my data" }).click();
      const dialog = page.getByRole("dialog", { name: "Delete all your data?" });
      await dialog.waitFor();
      await assertAccessible(page, "erasure confirmation");
      await screenshot(page, "volunteer-erase-phone");
      await dialog.getByRole("button", { name: "Delete everything" }).click();

      await page.getByRole("heading", { level: 1, name: "About you" }).waitFor();
      await page.getByText("Your data was erased. Thank you for your help.").first().waitFor();
      assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), [], "nothing is left on the device");

      // In the registration database: every row that belonged to the volunteer is deleted;
      // the volunteers row keeps only its id, status and erasure time (so that old tokens are
      // refused and a retried EraseMe answers the same), with every personal column empty.
      const id = volunteerId.replace(/[^0-9a-f-]/g, "");
      for (const table of ["availability", "idempotency_keys", "tokens_issued", "alerts", "matches_seen"]) {
        assert.equal(sql(suite.registrationDb, `SELECT count(*) FROM ${table} WHERE volunteer_id = '${id}'`), "0", table);
      }
      assert.equal(
        sql(
          suite.registrationDb,
          `SELECT status, contact_ciphertext IS NULL AND wrapped_key IS NULL AND phone_hash IS NULL
                  AND email_hash IS NULL AND birth_year IS NULL AND approx_latitude IS NULL
                  AND consent_text_version IS NULL AND cardinality(skill_ids) = 0
             FROM volunteers WHERE id = '${id}'`,
        ),
        "erased|t",
      );

      // A reload stays signed out.
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "About you" }).waitFor();
    } finally {
      await context.close();
    }
  });

  test("offers: decline with a reason, accept, check in with the code, check out", async () => {
    // Kiel: far from the other tests' volunteers and tasks, so the offers are this volunteer's.
    const KIEL = { latitude: 54.3233, longitude: 10.1228 };
    const coordinator = await device(browser, DESKTOP);
    const context = await device(browser, PHONE, { geolocation: KIEL, permissions: ["geolocation"] });
    try {
      const console_ = await signInCoordinator(coordinator);
      await openIncident(console_, { name: unique("Ostsee-Sturmflut Kiel"), ...KIEL, radiusKm: 15 });
      const task = (title, startHours, priority) => ({
        title,
        priority,
        headcount: 1,
        start: hours(startHours),
        end: hours(startHours + 2),
        ...KIEL,
        address: "Kiellinie 1, 24105 Kiel",
        maxDistanceKm: 20,
      });
      const declined = unique("Deich an der Kiellinie sichern");
      const accepted = unique("Sandsäcke am Bootshafen");
      const declinedId = await taskIdOf(await createTask(console_, task(declined, 1, "Critical")));

      const page = await openApp(context);
      await register(page, { name: "Kira Kiel", contact: uniqueEmail("kiel"), birthYear: 1982 });
      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor();
      const { volunteerId } = await page.evaluate(() => JSON.parse(localStorage.getItem("spontan.session")));
      const matchState = (taskId) =>
        sql(suite.matchingDb, `SELECT state || '|' || decline_reason FROM matches WHERE task_id = '${taskId}' AND volunteer_id = '${volunteerId}'`);

      // The offer arrives by itself (the list refreshes every 10 s): title, priority, window,
      // distance, address, and the two answers.
      const offer = card(page, declined);
      await offer.waitFor({ timeout: 40_000 });
      assert.match(await offer.innerText(), /Priority: critical/);
      assert.match(await offer.innerText(), /Kiellinie 1, 24105 Kiel/);
      assert.match(await offer.innerText(), /km from your starting point/);
      await assertAccessible(page, "offers (an offer)");
      await screenshot(page, "volunteer-offer-phone");

      // Decline, with a reason from the closed list.
      await offer.getByRole("button", { name: "Decline", exact: true }).click();
      await offer.getByLabel("Reason (optional)").selectOption({ label: "It is too far away" });
      await assertAccessible(page, "offers (declining)");
      await offer.getByRole("button", { name: "Decline offer", exact: true }).click();
      await page.getByText("You declined the offer.").first().waitFor();
      await offer.waitFor({ state: "detached" });
      assert.equal(matchState(declinedId), "declined|2", "declined with reason TOO_FAR");

      // A second task: accept it; the meeting point, window and route follow.
      const acceptedId = await taskIdOf(await createTask(console_, task(accepted, 4, "High")));
      const second = card(page, accepted);
      await second.waitFor({ timeout: 40_000 });
      await second.getByRole("button", { name: "Accept", exact: true }).click();
      await page.getByText(`You accepted “${accepted}”`).first().waitFor();
      await second.getByText("Accepted: you are expected.").waitFor();
      assert.match(await second.innerText(), /Meeting point/);
      const route = second.getByRole("link", { name: "Route to the meeting point (OpenStreetMap)" });
      assert.equal(
        await route.getAttribute("href"),
        `https://www.openstreetmap.org/directions?to=${KIEL.latitude}%2C${KIEL.longitude}`,
      );
      assert.equal(matchState(acceptedId), "accepted|0");
      await assertAccessible(page, "offers (an accepted task)");
      await screenshot(page, "volunteer-task-phone");

      // Check in: a wrong code is marked at its field; the code shown on site checks in.
      const code = second.getByLabel("Check-in code", { exact: true });
      await code.fill(checkInCode(acceptedId) === "000000" ? "111111" : "000000");
      await second.getByRole("button", { name: "I have arrived: check in" }).click();
      await eventually(async () => (await code.getAttribute("aria-invalid")) === "true", { what: "the wrong code marked" });
      assert.match(await description(page, code), /not the current code/);
      await code.fill(checkInCode(acceptedId));
      await second.getByRole("button", { name: "I have arrived: check in" }).click();
      await second.getByText("Checked in: you are on site.").waitFor();
      assert.equal(matchState(acceptedId), "checked_in|0");
      await assertAccessible(page, "offers (checked in)");
      await screenshot(page, "volunteer-checked-in-phone");

      // Check out when leaving: the match is completed and leaves the list.
      await second.getByRole("button", { name: "I am leaving: check out" }).click();
      await page.getByText(`Thank you! You checked out of “${accepted}”`).first().waitFor();
      await second.waitFor({ state: "detached" });
      assert.equal(matchState(acceptedId), "completed|0");
    } finally {
      await context.close();
      await coordinator.close();
    }
  });

  for (const [size, viewport] of [
    ["phone", PHONE],
    ["desktop", DESKTOP],
  ]) {
    test(`every registration screen passes axe-core and is photographed (${size})`, async () => {
      const context = await device(browser, viewport, { geolocation: HOME, permissions: ["geolocation"] });
      try {
        const page = await openApp(context);
        await assertAccessible(page, "about you");
        await screenshot(page, `volunteer-about-${size}`);

        await fillAbout(page, { name: "Screen Shot", contact: "+49 151 23456789", birthYear: 1980 });
        await page.getByLabel("Search skills").fill("driving");
        await assertAccessible(page, "what you can do");
        await page.getByLabel("Search skills").fill("");
        await screenshot(page, `volunteer-skills-${size}`);

        await page.getByRole("button", { name: "Use my location" }).click();
        await page.getByRole("button", { name: "Change times" }).click();
        await page.getByLabel("Available from", { exact: true }).waitFor();
        await assertAccessible(page, "what you can do (times open)");
        await page.getByRole("button", { name: "Next", exact: true }).click();

        await page.getByRole("heading", { level: 1, name: "Consent" }).waitFor();
        await page.getByText("Offers come by text message to +4915123456789").waitFor();
        await assertAccessible(page, "consent");
        await screenshot(page, `volunteer-consent-${size}`);

        await page.getByRole("link", { name: "How Spontan handles your data" }).click();
        await page.getByRole("heading", { level: 1, name: "How Spontan handles your data" }).waitFor();
        await assertAccessible(page, "privacy");
        await screenshot(page, `volunteer-privacy-${size}`);
        await page.getByRole("button", { name: "Back", exact: true }).click();
        await page.getByRole("heading", { level: 1, name: "Consent" }).waitFor();
        // The form survived the detour.
        await page.getByRole("button", { name: "Back", exact: true }).click();
        await page.getByRole("button", { name: "Back", exact: true }).click();
        assert.equal(await page.getByLabel("Your name", { exact: true }).inputValue(), "Screen Shot");

        if (size === "desktop") {
          // And once more in German, switched in the header and remembered.
          await page.getByRole("button", { name: "Deutsch" }).click();
          await page.getByRole("heading", { level: 1, name: "Über Sie" }).waitFor();
          assert.equal(await page.evaluate(() => document.documentElement.lang), "de");
          await assertAccessible(page, "Über Sie");
          await screenshot(page, "volunteer-about-de-desktop");
          await page.reload();
          await page.getByRole("heading", { level: 1, name: "Über Sie" }).waitFor();
        }
      } finally {
        await context.close();
      }
    });
  }

  test("offers and profile screens at desktop size", async () => {
    const context = await device(browser, DESKTOP, { geolocation: HOME, permissions: ["geolocation"] });
    try {
      const page = await openApp(context);
      await register(page, { name: "Desk Top", contact: uniqueEmail("desk"), birthYear: 1970 });
      await page.getByText("No offers right now.").waitFor();
      await screenshot(page, "volunteer-offers-desktop");
      await page.getByRole("link", { name: "Profile" }).click();
      await page.getByText("Desk Top", { exact: true }).waitFor();
      await assertAccessible(page, "profile (desktop)");
      await screenshot(page, "volunteer-profile-desktop");
    } finally {
      await context.close();
    }
  });

  test("the app is installable and opens offline from its service worker", async () => {
    const context = await phone();
    try {
      const page = await openApp(context);
      const manifest = await (await page.request.get(`${suite.web}/manifest.webmanifest`)).json();
      assert.equal(manifest.display, "standalone");
      assert.deepEqual(
        manifest.icons.filter((i) => i.type === "image/png").map((i) => i.sizes).sort(),
        ["192x192", "192x192", "512x512", "512x512"],
      );
      for (const icon of manifest.icons) {
        const response = await page.request.get(new URL(icon.src, suite.web).href);
        assert.equal(response.status(), 200, icon.src);
      }
      await page.evaluate(async () => {
        await navigator.serviceWorker.ready;
      });
      await eventually(() => page.evaluate(() => !!navigator.serviceWorker.controller), {
        what: "the service worker to control the page",
      });
      await context.setOffline(true);
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "About you" }).waitFor();
      await context.setOffline(false);
    } finally {
      await context.close();
    }
  });
});
