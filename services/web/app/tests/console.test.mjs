// The coordinator console in a real browser against the real suite: the sign-in page, an
// incident and a task created through the UI, what the server refuses shown at its fields (all
// at once), editing with the task's version, cancelling, completing, the optimiser's empty plan,
// closing the incident, German, accessibility and the screenshots in docs/screenshots/.
// Run through deploy/local/browser-test.sh [tests/console.test.mjs].
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DESKTOP, PHONE, axeViolations, device, eventually, launch, screenshot, signInCoordinator, sql, suite } from "./support/browser.mjs";
import { createTask, fillTask, hours, localInput, openIncident, staffing, taskCard, taskIdOf, unique } from "./support/staff.mjs";

// Far from where the other tests' volunteers live (the Ahr valley): the console's tasks must
// not take those volunteers' offers. Nobody is registered up here.
const ALPS = { latitude: 47.4211, longitude: 10.9853 };

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function assertAccessible(page, screen) {
  assert.deepEqual(await axeViolations(page), [], `axe-core on the console's ${screen}`);
}

/** The texts an input is described by (its hint and its errors), joined. */
async function description(page, locator) {
  const ids = ((await locator.getAttribute("aria-describedby")) ?? "").split(/\s+/).filter(Boolean);
  const texts = [];
  for (const id of ids) texts.push(await page.locator(`[id="${id}"]`).innerText());
  return texts.join(" | ");
}

const taskRows = (incidentId) => Number(sql(suite.taskDb, `SELECT count(*) FROM tasks WHERE incident_id = '${incidentId}'`));

describe("coordinator console", () => {
  test("without a token it shows the sign-in page with the provider and the development sign-in", async () => {
    const context = await device(browser, PHONE);
    try {
      const page = await context.newPage();
      await page.goto(`${suite.web}/console/`);
      await page.getByRole("heading", { level: 1, name: "Coordinator console" }).waitFor();
      // The suite's test identity provider (tests/staff-oidc.test.mjs signs in there).
      await page.getByRole("button", { name: "Sign in with your organisation's account" }).waitFor();
      await page.getByText(/You will be taken to 127\.0\.0\.1:\d+ and back here\./).waitFor();
      await page.getByLabel("Organisation", { exact: true }).fill("thw-ov-bonn");
      const link = page.getByRole("link", { name: "Development sign-in" });
      assert.equal(await link.getAttribute("href"), "/dev/sign-in?role=coordinator&organisation=thw-ov-bonn");
      await assertAccessible(page, "sign-in page");
      await screenshot(page, "console-signin-phone");

      // The link signs in; the token leaves the address bar at once and stays in the tab.
      await link.click();
      await page.getByRole("heading", { level: 1, name: "Incidents" }).waitFor();
      assert.equal(new URL(page.url()).hash, "", "the token is removed from the URL");
      const token = await page.evaluate(() => sessionStorage.getItem("spontan.console.token"));
      assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
      await page.getByText("Organisation thw-ov-bonn").waitFor();

      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByRole("link", { name: "Development sign-in" }).waitFor();
      assert.equal(await page.evaluate(() => sessionStorage.getItem("spontan.console.token")), null);
    } finally {
      await context.close();
    }
  });

  test("without an identity provider it says so; an expired or foreign token is refused", async () => {
    const context = await device(browser, DESKTOP);
    try {
      const page = await context.newPage();
      // A deployment without OIDC: /config.json names no provider.
      await page.route("**/config.json", async (route) => {
        const response = await route.fetch();
        const config = await response.json();
        await route.fulfill({ response, json: { ...config, oidc: null } });
      });
      // A token whose time is up (the page decodes, the services verify: no signature needed).
      const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
      const claims = { sub: "c-1", role: "coordinator", org: suite.organisation, iss: "test", iat: 0 };
      const expired = `${part({ alg: "EdDSA" })}.${part({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 })}.x`;
      await page.goto(`${suite.web}/console/#token=${expired}`);
      await page.getByText("Your session has ended. Please sign in again.").waitFor();
      assert.equal(new URL(page.url()).hash, "", "the token is removed from the URL");
      await page.getByText("No identity provider is configured for this deployment", { exact: false }).waitFor();
      assert.equal(await page.getByRole("button", { name: "Sign in with your organisation's account" }).count(), 0);
      assert.deepEqual(await axeViolations(page), [], "axe-core on the sign-in page without OIDC");

      // A volunteer's or dashboard's token does not open the console.
      const dashboard = `${part({ alg: "EdDSA" })}.${part({ ...claims, role: "dashboard", exp: Math.floor(Date.now() / 1000) + 600 })}.x`;
      await page.goto(`${suite.web}/console/#token=${dashboard}`);
      await page.getByText("This sign-in is not for this page (role dashboard).", { exact: false }).waitFor();
    } finally {
      await context.close();
    }
  });

  test("a coordinator opens an incident and creates a task; the server's refusals show at their fields", async () => {
    const context = await device(browser, DESKTOP);
    try {
      const page = await signInCoordinator(context);
      await page.getByRole("heading", { level: 1, name: "Incidents" }).waitFor();
      assert.equal(new URL(page.url()).hash, "", "the token is removed from the URL");
      await assertAccessible(page, "incident list");

      const name = unique("Lawine Reutte");
      const incidentId = await openIncident(page, { name, ...ALPS, radiusKm: 20, description: "Schneebruch, Straßen gesperrt." });
      assert.match(incidentId, /^[0-9a-f-]{36}$/);
      assert.equal(sql(suite.taskDb, `SELECT name FROM incidents WHERE incident_id = '${incidentId}'`), name);

      // A title of blanks, a minimum age of 10 and a window that already ended: the browser
      // lets all three through (the field is not empty, 10 is within 0..99, any time is a
      // time); the server refuses all three in one answer.
      await page.getByRole("button", { name: "New task" }).click();
      await fillTask(page, {
        title: "   ",
        priority: "High",
        headcount: 3,
        start: hours(-5),
        end: hours(-1),
        ...ALPS,
        address: "Feuerwehrhaus Reutte, Obermarkt 1",
        minAge: 10,
        required: ["Sandbag filling"],
      });
      await page.getByRole("button", { name: "Create task" }).click();
      const summary = page.getByTestId("violations");
      await summary.waitFor();
      const text = await summary.innerText();
      assert.match(text, /refused 3 field/);
      for (const [id, problem] of [
        ["#task-new-title", /required/],
        ["#task-new-min-age", /16 and 99/],
        ["#task-new-end", /past/],
      ]) {
        const input = page.locator(id);
        assert.equal(await input.getAttribute("aria-invalid"), "true", `${id} is marked`);
        assert.match(await description(page, input), problem, `${id} says why`);
        await page.locator(`${id}-error`).waitFor();
      }
      assert.equal(await page.locator("#task-new-address").getAttribute("aria-invalid"), null, "a good field is not marked");
      assert.equal(taskRows(incidentId), 0, "nothing was created");
      await assertAccessible(page, "task form with the server's refusals");
      await screenshot(page, "console-task-errors-desktop");

      // Corrected, it is created once, with the skill and the window as entered.
      const title = unique("Bäume von der Straße räumen");
      const start = hours(1);
      const end = hours(5);
      await fillTask(page, { title, minAge: 18, start, end });
      await page.getByRole("button", { name: "Create task" }).click();
      await page.getByText(`Task “${title}” created`).waitFor();
      assert.equal(await page.getByTestId("violations").count(), 0);
      const card = taskCard(page, title);
      await card.waitFor();
      assert.equal(await staffing(card, "needed"), 3);
      assert.equal(await staffing(card, "accepted"), 0);
      const taskId = await taskIdOf(card);
      assert.equal(taskRows(incidentId), 1);
      assert.equal(
        sql(suite.taskDb, `SELECT title || '|' || headcount || '|' || min_age || '|' || priority FROM tasks WHERE task_id = '${taskId}'`).split("|").slice(0, 3).join("|"),
        `${title}|3|18`,
      );
      assert.equal(sql(suite.taskDb, `SELECT required_skill_ids::text FROM tasks WHERE task_id = '${taskId}'`), "{sandbag_filling}");

      // Details: the meeting point, the skills; no offers (no volunteers up here).
      await card.getByRole("button", { name: "Details" }).click();
      await card.getByText("Sandbag filling").waitFor();
      await card.getByText("No offers yet.").waitFor();
      await assertAccessible(page, "task list with details");
      await screenshot(page, "console-tasks-desktop");
      await page.setViewportSize(PHONE);
      await screenshot(page, "console-tasks-phone");
      await page.setViewportSize(DESKTOP);
    } finally {
      await context.close();
    }
  });

  test("edits send the changed fields with the version; a stale edit is refused and reloaded; cancel, complete, optimise, close", async () => {
    const context = await device(browser, DESKTOP);
    try {
      const page = await signInCoordinator(context);
      const incidentId = await openIncident(page, { name: unique("Stromausfall Lechtal"), ...ALPS });
      const title = unique("Notstromaggregat betanken");
      const card = await createTask(page, { title, priority: "Critical", headcount: 2, start: hours(1), end: hours(3), ...ALPS, address: "Gemeindeamt Elbigenalp" });
      const taskId = await taskIdOf(card);
      const version = () => Number(sql(suite.taskDb, `SELECT version FROM tasks WHERE task_id = '${taskId}'`));
      assert.equal(version(), 1);

      // Edit: headcount 2 -> 4.
      await card.getByRole("button", { name: "Edit" }).click();
      await page.locator("#task-edit-headcount").fill("4");
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByText(`Task “${title}” saved.`).waitFor();
      await eventually(async () => (await staffing(card, "needed")) === 4, { what: "needed 4" });
      assert.equal(version(), 2);

      // Someone else changes the task while this coordinator edits it (a second tab).
      await card.getByRole("button", { name: "Edit" }).click();
      // sessionStorage is per tab: the second tab signs in itself.
      const other = await signInCoordinator(context);
      await other.getByRole("heading", { level: 1, name: "Incidents" }).waitFor();
      await other.goto(`${suite.web}/console/?incident=${incidentId}`);
      const otherCard = taskCard(other, title);
      await otherCard.getByRole("button", { name: "Edit" }).click();
      await other.locator("#task-edit-title").fill(`${title} (2)`);
      await other.getByRole("button", { name: "Save changes" }).click();
      await other.getByText(`Task “${title} (2)” saved.`).waitFor();
      await other.close();
      assert.equal(version(), 3);

      await page.locator("#task-edit-headcount").fill("5");
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByText("Someone else changed this task meanwhile").waitFor();
      assert.equal(await page.locator("#task-edit-title").inputValue(), `${title} (2)`, "the form shows the current values");
      assert.equal(await page.locator("#task-edit-headcount").inputValue(), "4");
      assert.equal(version(), 3, "the stale edit changed nothing");
      await page.locator("#task-edit-headcount").fill("5");
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByText(`Task “${title} (2)” saved.`).waitFor();
      assert.equal(sql(suite.taskDb, `SELECT headcount FROM tasks WHERE task_id = '${taskId}'`), "5");

      // The optimiser's preview changes nothing; with nobody up here its plan changes nothing
      // either, and there is nothing to apply (tests/console-optimise.test.mjs applies plans).
      await page.getByRole("button", { name: "Preview" }).click();
      const preview = page.getByTestId("optimise-preview");
      await preview.waitFor();
      await preview.getByText("Weighted coverage").waitFor();
      await preview.getByText(/assignments: \d+ kept, \d+ new/).waitFor();
      await preview.getByText("No changes: the current offers are already the best plan.").waitFor();
      await preview.getByText(/^Planned with a move cost of \d+(\.\d)? km\. Can be applied until \d\d:\d\d\./).waitFor();
      assert.equal(await page.getByRole("button", { name: "Apply" }).count(), 0, "an empty plan is not offered to apply");
      await preview.getByRole("button", { name: "Discard" }).click();
      assert.equal(await page.getByTestId("optimise-preview").count(), 0);

      // A second task: cancelled with a reason; the first: completed.
      const second = unique("Sandsäcke verteilen");
      const secondCard = await createTask(page, { title: second, priority: "Low", headcount: 1, start: hours(2), end: hours(4), ...ALPS, address: "Bauhof Holzgau" });
      await secondCard.getByRole("button", { name: "Cancel task" }).click();
      await secondCard.getByLabel(/^Reason for cancelling/).fill("Straße wieder frei");
      await secondCard.getByRole("button", { name: "Cancel the task" }).click();
      await secondCard.getByText("Cancelled", { exact: true }).waitFor();
      await secondCard.getByText("Cancelled: Straße wieder frei").waitFor();

      const firstCard = taskCard(page, `${title} (2)`);
      await firstCard.getByRole("button", { name: "Mark as done" }).click();
      await firstCard.getByRole("button", { name: "Yes, mark as done" }).click();
      await firstCard.getByText("Completed", { exact: true }).waitFor();
      assert.equal(await firstCard.getByRole("button", { name: "Edit" }).count(), 0, "a finished task cannot be edited");

      // Closing asks first.
      await page.getByRole("button", { name: "Close incident" }).click();
      await page.getByRole("alertdialog").waitFor();
      await assertAccessible(page, "close confirmation");
      await page.getByRole("button", { name: "Yes, close the incident" }).click();
      await page.getByText(/^Incident closed: \d+ task\(s\) cancelled/).waitFor();
      assert.equal(sql(suite.taskDb, `SELECT status FROM incidents WHERE incident_id = '${incidentId}'`).toLowerCase(), "closed");
      assert.equal(await page.getByRole("button", { name: "New task" }).count(), 0);
    } finally {
      await context.close();
    }
  });

  test("the meeting point is picked on a map: with the keyboard, a click, a drag and typed values; the task gets what the fields show", async () => {
    const context = await device(browser, DESKTOP);
    try {
      const page = await signInCoordinator(context);
      await openIncident(page, { name: unique("Murenabgang Imst"), ...ALPS, radiusKm: 10 });
      await page.getByRole("button", { name: "New task" }).click();
      // On a desk-sized screen the map is open at once, centred on the incident, with the pin
      // at the incident's centre (the form's default meeting point).
      await page.getByRole("button", { name: "Hide map" }).waitFor();
      const map = page.getByTestId("task-new-map-canvas");
      await page.locator('[data-testid="task-new-map-canvas"][data-ready="true"]').waitFor({ timeout: 30_000 });
      const canvas = map.locator("canvas");
      const lat = page.locator("#task-new-lat");
      const lon = page.locator("#task-new-lon");
      const point = async () => [Number(await lat.inputValue()), Number(await lon.inputValue())];
      assert.deepEqual(await point(), [ALPS.latitude, ALPS.longitude]);
      const pin = page.getByRole("img", { name: /^Pin of the meeting point at / });
      await pin.waitFor();
      assert.match(await pin.getAttribute("aria-label"), /47\.42110, 10\.98530$/);

      // The keyboard: the map pans with the arrow keys, the button puts the pin in its centre.
      await canvas.focus();
      for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowLeft");
      await page.waitForTimeout(1000);
      const centre = page.getByRole("button", { name: "Set the meeting point to the centre of the map" });
      await centre.focus();
      await page.keyboard.press("Enter");
      await eventually(async () => (await point())[1] < ALPS.longitude - 0.001, { what: "the pin at the panned centre" });
      assert.ok(Math.abs((await point())[0] - ALPS.latitude) < 0.001, "panning left keeps the latitude");
      await page.getByText(/^The meeting point is now at 47\.\d{5}, 10\.\d{5}\.$/).waitFor();
      // … and back.
      await canvas.focus();
      for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight");
      await page.waitForTimeout(1000);

      // A click north-east of the centre.
      const box = await canvas.boundingBox();
      const before = await point();
      await canvas.click({ position: { x: box.width / 2 + 120, y: box.height / 2 - 80 } });
      await eventually(async () => (await point())[0] > before[0] && (await point())[1] > before[1], { what: "the clicked point in the fields" });

      // Dragging the pin moves the point south.
      const clicked = await point();
      const at = await pin.boundingBox();
      await page.mouse.move(at.x + at.width / 2, at.y + at.height / 2);
      await page.mouse.down();
      for (let i = 1; i <= 10; i++) await page.mouse.move(at.x + at.width / 2, at.y + at.height / 2 + i * 8);
      await page.mouse.up();
      await eventually(async () => (await point())[0] < clicked[0], { what: "the dragged point in the fields" });

      // Typed values move the pin.
      await lat.fill("47.4");
      await lon.fill("10.95");
      await eventually(async () => /47\.40000, 10\.95000$/.test(await pin.getAttribute("aria-label")), { what: "the pin at the typed point" });

      // A last click; the task is created at exactly what the fields show.
      await canvas.click({ position: { x: box.width / 2 - 60, y: box.height / 2 + 40 } });
      await eventually(async () => (await point())[0] !== 47.4, { what: "the clicked point" });
      const [wantLat, wantLon] = await point();
      const title = unique("Hangsicherung Imst");
      await fillTask(page, { title, start: hours(1), end: hours(3), address: "Pfarrplatz 1, Imst" });
      assert.deepEqual(await point(), [wantLat, wantLon], "filling the form kept the picked point");
      assert.deepEqual(await axeViolations(page), [], "axe-core on the task form with the map open");
      await screenshot(page, "console-task-map-desktop");
      await page.getByRole("button", { name: "Create task" }).click();
      await page.getByText(`Task “${title}” created`).waitFor();
      const taskId = await taskIdOf(taskCard(page, title));
      const [dbLat, dbLon] = sql(suite.taskDb, `SELECT meeting_latitude || ',' || meeting_longitude FROM tasks WHERE task_id = '${taskId}'`).split(",").map(Number);
      assert.ok(Math.abs(dbLat - wantLat) < 1e-9 && Math.abs(dbLon - wantLon) < 1e-9, `task service: ${dbLat},${dbLon} vs ${wantLat},${wantLon}`);
      await eventually(
        () => {
          const row = sql(suite.matchingDb, `SELECT latitude || ',' || longitude FROM tasks WHERE id = '${taskId}'`);
          if (!row) return false;
          const [mLat, mLon] = row.split(",").map(Number);
          return Math.abs(mLat - wantLat) < 1e-6 && Math.abs(mLon - wantLon) < 1e-6;
        },
        { what: "the meeting point in the matching service" },
      );

      // Editing shows the map at the task's meeting point; hiding it is remembered.
      await taskCard(page, title).getByRole("button", { name: "Edit" }).click();
      await page.locator('[data-testid="task-edit-map-canvas"][data-ready="true"]').waitFor({ timeout: 30_000 });
      assert.match(await page.getByRole("img", { name: /^Pin of the meeting point at / }).getAttribute("aria-label"), new RegExp(`${wantLat.toFixed(5).replace(".", "\\.")}, `));
      await page.getByRole("button", { name: "Hide map" }).click();
      await page.getByRole("button", { name: "Show map" }).waitFor();
      assert.equal(await page.getByTestId("task-edit-map-canvas").count(), 0);
      await page.getByRole("button", { name: "Cancel", exact: true }).click();
      await page.getByRole("button", { name: "New task" }).click();
      await page.getByRole("button", { name: "Show map" }).waitFor();
      assert.equal(await page.getByTestId("task-new-map-canvas").count(), 0, "the closed map stays closed");
      await page.getByRole("button", { name: "Show map" }).click();
      await page.locator('[data-testid="task-new-map-canvas"][data-ready="true"]').waitFor({ timeout: 30_000 });
    } finally {
      await context.close();
    }
  });

  test("in German, the server's refusals are in the console's words with the server's text as detail", async () => {
    const context = await device(browser, DESKTOP, { locale: "de-DE" });
    try {
      const page = await signInCoordinator(context);
      await page.getByRole("heading", { level: 1, name: "Einsätze" }).waitFor();
      const name = unique("Waldbrand Lechtal");
      await page.getByRole("button", { name: "Neuer Einsatz" }).click();
      await page.getByLabel("Name", { exact: true }).fill(name);
      await page.getByLabel("Breitengrad (°)", { exact: true }).fill(String(ALPS.latitude));
      await page.getByLabel("Längengrad (°)", { exact: true }).fill(String(ALPS.longitude));
      // The browser allows any radius; the server's limit is 500 km.
      await page.getByLabel("Radius (km)", { exact: true }).fill("600");
      await page.getByRole("button", { name: "Einsatz eröffnen" }).click();
      const summary = page.getByTestId("violations");
      await summary.waitFor();
      assert.match(await summary.innerText(), /Der Server hat 1 Feld\(er\) abgelehnt/);
      assert.match(await summary.innerText(), /Radius \(km\): Zwischen 0,1 und 500 km\./);
      const error = page.locator("#incident-radius-error");
      assert.equal(await error.innerText(), "Zwischen 0,1 und 500 km. (Server: must be between 0.1 and 500 km)");
      assert.equal(await error.locator('[lang="en"]').innerText(), "must be between 0.1 and 500 km");
      assert.equal(await page.locator("#incident-radius").getAttribute("aria-invalid"), "true");
      assert.equal(Number(sql(suite.taskDb, `SELECT count(*) FROM incidents WHERE name = '${name}'`)), 0);
      assert.deepEqual(await axeViolations(page), [], "axe-core on the incident form with a German refusal and the map");
      await screenshot(page, "console-incident-errors-de-desktop");

      // The centre moved on the map (a click south-east of the typed one), the radius corrected.
      await page.locator('[data-testid="incident-map-canvas"][data-ready="true"]').waitFor({ timeout: 30_000 });
      const canvas = page.getByTestId("incident-map-canvas").locator("canvas");
      const box = await canvas.boundingBox();
      await canvas.click({ position: { x: box.width / 2 + 60, y: box.height / 2 + 40 } });
      const centre = async () => [Number(await page.locator("#incident-lat").inputValue()), Number(await page.locator("#incident-lon").inputValue())];
      await eventually(async () => (await centre())[0] < ALPS.latitude && (await centre())[1] > ALPS.longitude, { what: "the clicked centre in the fields" });
      await page.getByText(/^Mittelpunkt gesetzt auf \d+,\d{5}, \d+,\d{5}\.$/).waitFor();
      const [wantLat, wantLon] = await centre();
      await page.getByLabel("Radius (km)", { exact: true }).fill("10");
      await page.getByRole("button", { name: "Einsatz eröffnen" }).click();
      await page.getByText(`Einsatz „${name}“ ist eröffnet.`).waitFor();
      await page.getByRole("link", { name, exact: true }).click();
      await page.getByRole("heading", { level: 1, name, exact: true }).waitFor();
      const incidentId = new URL(page.url()).searchParams.get("incident");
      assert.equal(sql(suite.taskDb, `SELECT centre_latitude || ',' || centre_longitude FROM incidents WHERE incident_id = '${incidentId}'`), `${wantLat},${wantLon}`);

      // A refusal with a reason: the incident is closed (in another tab) while a task is written.
      await page.getByRole("button", { name: "Neue Aufgabe" }).click();
      await page.locator("#task-new-title").fill(unique("Löschwasser tragen"));
      await page.locator("#task-new-address").fill("Dorfplatz, Elbigenalp");
      const other = await signInCoordinator(context);
      await other.getByRole("heading", { level: 1, name: "Einsätze" }).waitFor();
      await other.goto(`${suite.web}/console/?incident=${incidentId}`);
      await other.getByRole("button", { name: "Einsatz schließen" }).click();
      await other.getByRole("button", { name: "Ja, Einsatz schließen" }).click();
      await other.getByText(/^Einsatz geschlossen:/).waitFor();
      await other.close();
      await page.getByRole("button", { name: "Aufgabe anlegen" }).click();
      const notice = page.locator(".task-form .notice--error");
      await notice.waitFor();
      assert.match(await notice.innerText(), /^Der Einsatz ist geschlossen und nimmt keine neuen Aufgaben an\. \(Server: INCIDENT_CLOSED: the incident is closed/);
      assert.equal(Number(sql(suite.taskDb, `SELECT count(*) FROM tasks WHERE incident_id = '${incidentId}'`)), 0);
    } finally {
      await context.close();
    }
  });

  test("the console speaks German", async () => {
    const context = await device(browser, PHONE, { locale: "de-DE" });
    try {
      const page = await signInCoordinator(context);
      await page.getByRole("heading", { level: 1, name: "Einsätze" }).waitFor();
      assert.equal(await page.evaluate(() => document.documentElement.lang), "de");
      await page.getByRole("button", { name: "Neuer Einsatz" }).click();
      await page.getByLabel("Breitengrad (°)", { exact: true }).waitFor();
      await assertAccessible(page, "incident form in German");
      await screenshot(page, "console-incident-form-de-phone");
      // And switches to English on request, remembered.
      await page.getByRole("button", { name: "English" }).click();
      await page.getByRole("heading", { level: 1, name: "Incidents" }).waitFor();
      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Incidents" }).waitFor();
    } finally {
      await context.close();
    }
  });
});
