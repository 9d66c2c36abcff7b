// The audit trail of an incident in the console, against the real suite: a coordinator opens
// an incident with a task, a volunteer accepts it, the coordinator reads the volunteer's
// contact and confirms them on site; an admin cancels the task and reads the trail, where the
// three services' entries (task service, matching, the contact read) stand in one table with
// the right actors. A coordinator sees no link, and the address itself says "only
// administrators".
// Run through deploy/local/browser-test.sh [tests/console-audit.test.mjs].
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DESKTOP, PHONE, axeViolations, device, eventually, launch, screenshot, signInCoordinator, suite } from "./support/browser.mjs";
import { createTask, hours, offerAcceptButton, openIncident, registerVolunteer, taskCard, unique } from "./support/staff.mjs";

// Trier: far from every other test's volunteers and tasks, so the match here is ours.
const TRIER = { latitude: 49.7499, longitude: 6.6371 };

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function signInAdmin(context) {
  const page = await context.newPage();
  await page.goto(`${suite.web}/dev/sign-in?role=admin`);
  await page.waitForURL(/\/console\//);
  return page;
}

test("an admin reads an incident's audit trail; a coordinator has no way in", async () => {
  const coordinator = await device(browser, DESKTOP);
  const admin = await device(browser, DESKTOP);
  const volunteer = await device(browser, PHONE, { geolocation: TRIER, permissions: ["geolocation"] });
  try {
    // The coordinator: an incident, a task, a volunteer who accepts it.
    const page = await signInCoordinator(coordinator);
    const incidentName = unique("Hochwasser Mosel");
    const incidentId = await openIncident(page, { name: incidentName, ...TRIER, radiusKm: 15 });
    const title = unique("Sandsäcke an der Römerbrücke");
    const card = await createTask(page, {
      title,
      priority: "High",
      headcount: 1,
      start: hours(1),
      end: hours(4),
      ...TRIER,
      address: "Römerbrücke, Trier",
      maxDistanceKm: 20,
    });
    assert.equal(await page.getByRole("link", { name: "Audit trail" }).count(), 0, "a coordinator sees no audit trail link");

    const tag = String(process.pid).padStart(7, "0").slice(-7);
    const app = await registerVolunteer(volunteer, { name: `Irmtraud Moselweiß ${tag}`, contact: `+491578${tag}`, radius: 10 });
    await (await offerAcceptButton(app, title)).click();
    await app.getByText(`You accepted “${title}”`).waitFor();

    // The coordinator reads the contact (audited by registration) and confirms the arrival
    // (audited by matching).
    await card.getByRole("button", { name: "Details" }).click();
    const show = card.getByRole("button", { name: "Show contact" });
    await show.first().waitFor({ timeout: 20_000 });
    await show.first().click();
    await card.locator(".contact").first().waitFor();
    await card.getByRole("button", { name: "Confirm on site" }).first().click();
    await eventually(async () => (await card.locator('li.match[data-state="checked_in"]').count()) === 1, { what: "the volunteer on site" });

    // The address of the trail, opened by a coordinator: said, not crashed, and nothing asked.
    await page.goto(`${suite.web}/console/?incident=${incidentId}&view=audit`);
    await page.getByText("Only administrators can read the audit trail.").waitFor();
    assert.equal(await page.getByTestId("audit-trail").count(), 0);

    // The admin cancels the task and opens the trail from the incident.
    const adminPage = await signInAdmin(admin);
    await adminPage.goto(`${suite.web}/console/?incident=${incidentId}`);
    await adminPage.getByRole("heading", { level: 1, name: incidentName, exact: true }).waitFor();
    const adminCard = taskCard(adminPage, title);
    await adminCard.getByRole("button", { name: "Cancel task" }).click();
    await adminCard.getByLabel(/^Reason for cancelling/).fill("Pegel sinkt");
    await adminCard.getByRole("button", { name: "Cancel the task" }).click();
    await adminCard.getByText("Cancelled: Pegel sinkt").waitFor();

    await adminPage.getByRole("link", { name: "Audit trail" }).click();
    await adminPage.getByRole("heading", { level: 1, name: `Audit trail: ${incidentName}` }).waitFor();
    const trail = adminPage.getByTestId("audit-trail");
    const row = (action) => trail.locator(`tbody tr[data-action="${action}"]`);
    await eventually(async () => (await row("task.cancelled").count()) === 1 && (await row("contact.read").count()) === 1 && (await row("match.checked_in").count()) === 1, {
      what: "the three sources' rows",
    });
    await adminPage.getByText("Newest first", { exact: false }).first().waitFor();

    const text = async (action) => (await row(action).first().innerText()).replace(/\s+/g, " ");
    const opened = await text("incident.opened");
    assert.match(opened, /Incident opened/);
    assert.match(opened, /dev-coordinator \(coordinator\)/);
    const created = await text("task.created");
    assert.match(created, /Task created/);
    assert.match(created, /dev-coordinator \(coordinator\)/);
    assert.ok(created.includes(title), `the task's title in “${created}”`);
    const cancelled = await text("task.cancelled");
    assert.match(cancelled, /Task cancelled/);
    assert.match(cancelled, /dev-admin \(administrator\)/);
    assert.match(cancelled, /Reason: Pegel sinkt/);
    assert.ok(cancelled.includes(title));
    const read = await text("contact.read");
    assert.match(read, /Volunteer's contact read/);
    assert.match(read, /dev-coordinator/);
    assert.ok(read.includes(title));
    const checkedIn = await text("match.checked_in");
    assert.match(checkedIn, /Volunteer confirmed on site/);
    assert.match(checkedIn, /dev-coordinator \(coordinator\)/);

    // Newest first: the cancellation is above the task's creation.
    const actions = await trail.locator("tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-action")));
    assert.ok(actions.indexOf("task.cancelled") < actions.indexOf("task.created"), `newest first: ${actions.join(", ")}`);
    assert.equal(actions.at(-1), "incident.opened", `the incident's opening is the oldest: ${actions.join(", ")}`);

    // No volunteer data in the trail.
    const html = await adminPage.content();
    for (const value of [`Irmtraud Moselweiß ${tag}`, `+491578${tag}`, `1578${tag}`]) assert.ok(!html.includes(value), `the trail shows “${value}”`);

    assert.deepEqual(await axeViolations(adminPage), [], "axe-core on the audit trail");
    await screenshot(adminPage, "console-audit-desktop");

    // The filter by source: without contact reads, their row goes.
    await adminPage.getByRole("checkbox", { name: /^Contact reads/ }).uncheck();
    assert.equal(await row("contact.read").count(), 0);
    assert.equal(await row("task.cancelled").count(), 1);
  } finally {
    await volunteer.close();
    await admin.close();
    await coordinator.close();
  }
});
