// The emergency dashboard in a real browser against the real suite: coverage, tasks by
// priority and staffing, the map drawn with no tile server, the wall-screen mode, the live feed
// falling back to polling when its stream fails, and that no volunteer's name, phone number or
// e-mail address ever reaches its page. Accessibility and screenshots in docs/screenshots/.
// Run through deploy/local/browser-test.sh [tests/dashboard.test.mjs].
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DESKTOP, PHONE, axeViolations, device, eventually, launch, screenshot, signInCoordinator, sql, suite } from "./support/browser.mjs";
import { createTask, hours, offerAcceptButton, openDashboard, openIncident, pixelStats, registerVolunteer, signInDashboard, staffing, taskIdOf, unique } from "./support/staff.mjs";

// Dresden: far from the other tests' volunteers and tasks, so that the matches here are ours.
const DRESDEN = { latitude: 51.0504, longitude: 13.7373 };
const CRITICAL_COLOUR = "#b3261e";

let browser;
let coordinator;
let console_;
let incidentId;
const tasks = {};
/** Two volunteers with values that cannot occur on the page by chance. */
const tag = String(process.pid).padStart(7, "0").slice(-7);
const people = [
  { name: `Zyprian Quendelmoos ${tag}`, contact: `+491579${tag}` },
  { name: `Walburga Xanthippe ${tag}`, contact: `walburga.xanthippe.${tag}@example.org` },
];
const volunteers = [];

before(async () => {
  browser = await launch();
  coordinator = await device(browser, DESKTOP);
  console_ = await signInCoordinator(coordinator);
  incidentId = await openIncident(console_, { name: unique("Hochwasser Elbe"), ...DRESDEN, radiusKm: 25 });
  const window = { start: hours(1), end: hours(4) };
  tasks.critical = await createTask(console_, {
    title: unique("Deich Pieschen sichern"),
    priority: "Critical",
    headcount: 2,
    ...window,
    ...DRESDEN,
    address: "Leipziger Straße 100, Dresden",
    maxDistanceKm: 30,
  });
  tasks.low = await createTask(console_, {
    title: unique("Spenden sortieren"),
    priority: "Low",
    headcount: 3,
    ...window,
    latitude: DRESDEN.latitude + 0.02,
    longitude: DRESDEN.longitude - 0.03,
    address: "Messering 6, Dresden",
    maxDistanceKm: 30,
  });
  tasks.criticalId = await taskIdOf(tasks.critical);
  tasks.lowId = await taskIdOf(tasks.low);
  // Two volunteers at home in Dresden: matching offers them the critical task first.
  for (const person of people) {
    const context = await device(browser, PHONE, { geolocation: DRESDEN, permissions: ["geolocation"] });
    const page = await registerVolunteer(context, { ...person, radius: 20 });
    volunteers.push({ context, page });
  }
  await eventually(async () => (await staffing(tasks.critical, "offered")) + (await staffing(tasks.critical, "accepted")) === 2, {
    timeoutMs: 30_000,
    what: "both volunteers offered the critical task",
  });
});

after(async () => {
  for (const v of volunteers) await v.context.close();
  await coordinator?.close();
  await browser?.close();
});

/** A volunteer accepts the offer of the task titled `title` in the volunteer app. */
async function accept(page, title) {
  await (await offerAcceptButton(page, title)).click();
  await page.getByText(`You accepted “${title}”`).waitFor();
}

const dashboardTask = (page, taskId) => page.locator(`li.dtask[data-task-id="${taskId}"]`);
const acceptedOn = async (page, taskId) => Number(await dashboardTask(page, taskId).locator(".dtask__numbers").getAttribute("data-accepted"));

describe("emergency dashboard", () => {
  test("without a token it shows the sign-in page", async () => {
    const context = await device(browser, PHONE);
    try {
      const page = await context.newPage();
      await page.goto(`${suite.web}/dashboard/`);
      await page.getByRole("heading", { level: 1, name: "Emergency dashboard" }).waitFor();
      const link = page.getByRole("link", { name: "Development sign-in" });
      await page.getByLabel("Organisation", { exact: true }).fill(suite.organisation);
      assert.equal(await link.getAttribute("href"), `/dev/sign-in?role=dashboard&organisation=${suite.organisation}`);
      assert.deepEqual(await axeViolations(page), []);
      await page.getByRole("button", { name: "Deutsch" }).click();
      await page.getByRole("heading", { level: 1, name: "Lagebild" }).waitFor();
      assert.equal(await page.evaluate(() => document.documentElement.lang), "de");
    } finally {
      await context.close();
    }
  });

  test("coverage by priority, tasks by priority and staffing, and the map drawn with no tile server", async () => {
    const context = await device(browser, DESKTOP);
    try {
      const page = await signInDashboard(context);
      assert.equal(new URL(page.url()).hash, "", "the token is removed from the URL");
      await openDashboard(page, incidentId);

      // Tasks, most urgent first, with their staffing.
      const critical = dashboardTask(page, tasks.criticalId);
      await critical.waitFor();
      assert.match(await critical.getAttribute("class"), /dtask--critical/);
      assert.match(await critical.getAttribute("class"), /dtask--short/);
      assert.equal(await critical.locator(".dtask__numbers").getAttribute("data-needed"), "2");
      assert.match(await dashboardTask(page, tasks.lowId).getAttribute("class"), /dtask--low/);
      const order = await page.locator("li.dtask").evaluateAll((items) => items.map((i) => i.getAttribute("data-task-id")));
      assert.ok(order.indexOf(tasks.criticalId) < order.indexOf(tasks.lowId), "critical before low");

      // Coverage: one row per priority with active tasks, totals.
      await page.locator('tr[data-priority="critical"]').waitFor();
      await page.locator('tr[data-priority="low"]').waitFor();
      assert.equal(await page.locator('dd[data-total="needed"]').innerText(), "5");

      // The feed has the offers, by pseudonym.
      await page.locator(".feed__item").first().waitFor();
      await eventually(async () => (await page.locator(".feed-mode").getAttribute("data-mode")) === "stream", { what: "the live stream" });
      assert.match(await page.locator(".feed").innerText(), /v-[0-9a-f]+: New → Offered/);

      // The map: MapLibre drew the background, the region and the two circles (no tiles).
      const map = page.locator(".map");
      await page.locator('.map[data-drawn-tasks="2"]').waitFor({ timeout: 30_000 });
      const stats = await pixelStats(page, map.locator("canvas"), CRITICAL_COLOUR);
      assert.ok(stats.colours > 10, `the canvas is not uniform (${stats.colours} colours)`);
      assert.ok(stats.near > 50, `a critical task's circle is drawn (${stats.near} pixels near ${CRITICAL_COLOUR})`);
      // The map library came lazily, after the page.
      const scripts = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name).filter((n) => n.endsWith(".js")));
      assert.ok(scripts.some((s) => /\/assets\/map-[\w-]+\.js$/.test(s)), "the map chunk was loaded");
      const html = await (await page.request.get(`${suite.web}/dashboard/`)).text();
      assert.ok(!/\/assets\/map-/.test(html), "the map chunk is not part of the page's initial load");

      assert.deepEqual(await axeViolations(page), [], "axe-core on the dashboard");
      await screenshot(page, "dashboard-desktop");
      await page.setViewportSize(PHONE);
      await page.locator('.map[data-drawn-tasks="2"]').waitFor();
      await screenshot(page, "dashboard-phone");
    } finally {
      await context.close();
    }
  });

  test("a configured basemap that cannot be reached falls back to the built-in style; the attribution shows", async () => {
    const context = await device(browser, DESKTOP);
    try {
      const page = await signInDashboard(context);
      await page.route("**/config.json", async (route) => {
        const response = await route.fetch();
        const config = await response.json();
        await route.fulfill({
          response,
          json: { ...config, map: { styleUrl: "http://127.0.0.1:9/no-tiles-here/style.json", attribution: "© Test-Kartendienst" } },
        });
      });
      await openDashboard(page, incidentId);
      await page.locator('.map[data-drawn-tasks="2"]').waitFor({ timeout: 30_000 });
      const stats = await pixelStats(page, page.locator(".map canvas"), CRITICAL_COLOUR);
      assert.ok(stats.near > 50, `the tasks are drawn on the fallback style (${stats.near} pixels)`);
      await page.locator(".maplibregl-ctrl-attrib").getByText("© Test-Kartendienst").waitFor();
    } finally {
      await context.close();
    }
  });

  test("wall-screen mode: large type, no controls, updates itself", async () => {
    const context = await device(browser, DESKTOP);
    try {
      const page = await signInDashboard(context);
      await openDashboard(page, incidentId, "&wall=1");
      await page.locator('.map[data-drawn-tasks="2"]').waitFor({ timeout: 30_000 });
      assert.equal(await page.evaluate(() => document.documentElement.classList.contains("wall")), true);
      const controls = await page.locator("button:visible, select:visible, input:visible, textarea:visible").count();
      assert.equal(controls, 0, "no interactive controls on the wall screen");
      const size = await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
      assert.ok(size >= 20, `large type (${size}px)`);
      assert.deepEqual(await axeViolations(page), [], "axe-core on the wall screen");
      await screenshot(page, "dashboard-wall-desktop");
      // Escape leaves the wall-screen mode.
      await page.keyboard.press("Escape");
      await page.getByRole("button", { name: "Wall screen" }).waitFor();
      assert.equal(new URL(page.url()).searchParams.get("wall"), null);
    } finally {
      await context.close();
    }
  });

  test("when the stream fails, the feed polls from its cursor and shows changes, then streams again", async () => {
    const context = await device(browser, DESKTOP);
    try {
      const page = await signInDashboard(context);
      const blocked = (route) => route.abort("connectionreset");
      await page.route("**/spontan.v1.MatchingService/WatchMatchChanges", blocked);
      await openDashboard(page, incidentId);
      await eventually(async () => (await page.locator(".feed-mode").getAttribute("data-mode")) === "polling", { what: "polling mode" });
      const before = await acceptedOn(page, tasks.criticalId);

      // A volunteer accepts while the stream is down: the poll brings it, without a reload.
      await accept(volunteers[0].page, await tasks.critical.locator("h3").innerText());
      await eventually(async () => (await acceptedOn(page, tasks.criticalId)) === before + 1, { timeoutMs: 15_000, what: "the acceptance by polling" });
      await page.locator(".feed__item--accepted").first().waitFor();

      // The stream comes back: the feed reconnects from its cursor.
      await page.unroute("**/spontan.v1.MatchingService/WatchMatchChanges", blocked);
      await eventually(async () => (await page.locator(".feed-mode").getAttribute("data-mode")) === "stream", {
        timeoutMs: 30_000,
        what: "the stream again",
      });
      const sequences = await page.locator(".feed__item").evaluateAll((items) => items.map((i) => Number(i.getAttribute("data-sequence"))));
      assert.equal(new Set(sequences).size, sequences.length, "no change shown twice");
    } finally {
      await context.close();
    }
  });

  test("no volunteer name, phone number or e-mail address reaches the dashboard", async () => {
    // The second volunteer accepts too: both are now ACCEPTED, the state in which a
    // coordinator may see their contact.
    await accept(volunteers[1].page, await tasks.critical.locator("h3").innerText());
    await eventually(async () => (await staffing(tasks.critical, "accepted")) === 2, { timeoutMs: 20_000, what: "two accepted in the console" });

    const context = await device(browser, DESKTOP);
    try {
      const page = await signInDashboard(context);
      await openDashboard(page, incidentId);
      await eventually(async () => (await acceptedOn(page, tasks.criticalId)) === 2, { what: "two accepted on the dashboard" });
      await page.locator(".feed__item--accepted").nth(1).waitFor();
      const phone = people[0].contact;
      const forbidden = [
        people[0].name,
        people[1].name,
        "Quendelmoos",
        "Xanthippe",
        phone,
        phone.slice(1),
        `0${phone.slice(3)}`,
        phone.slice(-7),
        people[1].contact,
        `walburga.xanthippe.${tag}`,
      ];
      const check = async (what) => {
        const html = await page.content();
        for (const value of forbidden) assert.ok(!html.includes(value), `${what}: the dashboard's page contains “${value}”`);
      };
      await check("desktop");
      await page.goto(`${suite.web}/dashboard/?incident=${incidentId}&wall=1`);
      await page.locator(".feed__item--accepted").nth(1).waitFor();
      await check("wall screen");

      // The data exists: the console shows it on request, and records the access.
      const audits = () => Number(sql(suite.registrationDb, "SELECT count(*) FROM contact_access_audit"));
      const auditsBefore = audits();
      const card = tasks.critical;
      await card.getByRole("button", { name: "Details" }).click();
      const show = card.getByRole("button", { name: "Show contact" });
      await show.first().waitFor();
      const asked = console_.waitForRequest((r) => r.url().endsWith("/GetVolunteerContact"));
      await show.first().click();
      // The console passes on matching's contact grant (a compact JWS, "eyJ…") with the match.
      const body = (await asked).postDataBuffer()?.toString("latin1") ?? "";
      assert.match(body, /eyJ[\w-]+\.[\w-]+\.[\w-]+/, "the request carries the match's contact grant");
      await card.getByText("Access recorded in the audit trail").first().waitFor();
      const shown = await card.locator(".contact").first().innerText();
      assert.ok(people.some((p) => shown.includes(p.name)), "the console shows the contact");
      assert.equal(audits(), auditsBefore + 1, "the access is in the audit trail");
      assert.deepEqual(await axeViolations(console_), [], "axe-core on the console with a contact shown");
      await screenshot(console_, "console-contact-desktop");
    } finally {
      await context.close();
    }
  });
});
