// On-site work in the coordinator console, against the real suite: two volunteers register
// through the volunteer app and accept one task; the coordinator confirms the first on site
// (no code: in person), checks them out a moment later and sees the hours on site, per match
// and for the task, which the matching database recorded; the second never comes and is
// marked as a no-show after a confirmation.
// Run through deploy/local/browser-test.sh [tests/console-onsite.test.mjs].
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DESKTOP, PHONE, axeViolations, device, eventually, launch, screenshot, signInCoordinator, sql, suite } from "./support/browser.mjs";
import { createTask, hours, offerAcceptButton, openIncident, registerVolunteer, staffing, taskIdOf, unique } from "./support/staff.mjs";

// Regensburg: far from every other test's volunteers and tasks, so the matches here are ours.
const REGENSBURG = { latitude: 49.0134, longitude: 12.1016 };

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const matchDb = (matchId, column) => sql(suite.matchingDb, `SELECT ${column} FROM matches WHERE id = '${matchId}'`);

test("a coordinator confirms a volunteer on site, checks them out with their hours, and marks a no-show", async () => {
  const coordinator = await device(browser, DESKTOP);
  const volunteers = [];
  try {
    const page = await signInCoordinator(coordinator);
    await openIncident(page, { name: unique("Hochwasser Donau"), ...REGENSBURG, radiusKm: 15 });
    const title = unique("Sandsäcke an der Steinernen Brücke");
    const card = await createTask(page, {
      title,
      priority: "High",
      headcount: 2,
      start: hours(1),
      end: hours(4),
      ...REGENSBURG,
      address: "Brückstraße 1, Regensburg",
      maxDistanceKm: 20,
    });
    const taskId = await taskIdOf(card);

    // Two volunteers at home in Regensburg register in the app and accept.
    const tag = String(process.pid).padStart(7, "0").slice(-7);
    const people = [
      { name: `Korbinian Ölschläger ${tag}`, contact: `korbinian.oelschlaeger.${tag}@example.org` },
      { name: `Walpurga Zirbelstein ${tag}`, contact: `+491577${tag}` },
    ];
    for (const person of people) {
      const context = await device(browser, PHONE, { geolocation: REGENSBURG, permissions: ["geolocation"] });
      volunteers.push(context);
      const app = await registerVolunteer(context, { ...person, radius: 10 });
      await (await offerAcceptButton(app, title)).click();
      await app.getByText(`You accepted “${title}”`).waitFor();
    }

    // The console's volunteer list shows both as accepted.
    await card.getByRole("button", { name: "Details" }).click();
    const accepted = card.locator('li.match[data-state="accepted"]');
    await eventually(async () => (await accepted.count()) === 2, { timeoutMs: 20_000, what: "two accepted matches in the console" });
    const [first, second] = await accepted.evaluateAll((rows) => rows.map((row) => row.getAttribute("data-match-id")));
    const row = (matchId) => card.locator(`li.match[data-match-id="${matchId}"]`);
    assert.equal(await card.getByTestId("hours-total").count(), 0, "no hours before anyone is on site");

    // The first arrives: the coordinator confirms it in person (no code).
    await row(first).getByRole("button", { name: "Confirm on site" }).click();
    await eventually(async () => (await row(first).getAttribute("data-state")) === "checked_in", { what: "the first on site" });
    await row(first).getByText(/^On site since \d\d:\d\d \(under 1 min so far\)$/).waitFor();
    assert.equal(
      await card.getByTestId("hours-total").innerText(),
      "Hours on site: under 1 min (0 checked out, 1 on site now) Those on site now: under 1 min so far.",
    );
    assert.equal(matchDb(first, "state"), "checked_in");
    await eventually(async () => (await staffing(card, "checked-in")) === 1, { what: "on site 1 on the card" });

    // … and leaves a moment later: checked out, with hours on site.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await row(first).getByRole("button", { name: "Check out" }).click();
    await eventually(async () => (await row(first).getAttribute("data-state")) === "completed", { what: "the first checked out" });
    const shown = Number(await row(first).locator(".match__hours").getAttribute("data-hours"));
    assert.ok(shown > 0, `hours on site shown for the match: ${shown}`);
    await row(first).getByText(/^On site \d\d:\d\d – \d\d:\d\d: under 1 min$/).waitFor();
    const total = card.getByTestId("hours-total");
    await eventually(async () => Number(await total.getAttribute("data-hours")) > 0, { what: "the task's hours on site" });
    assert.match(await total.innerText(), /Hours on site: under 1 min \(1 checked out, 0 on site now\)/);
    assert.equal(matchDb(first, "state"), "completed");
    assert.equal(matchDb(first, "checked_out_at IS NOT NULL AND checked_out_at > checked_in_at"), "t");
    const recorded = Number(matchDb(first, "extract(epoch FROM checked_out_at - checked_in_at) / 3600"));
    assert.ok(Math.abs(recorded - shown) < 1e-6, `the console shows the recorded hours (${shown} vs ${recorded})`);

    // The second never comes: marked as a no-show, after a confirmation.
    await row(second).getByRole("button", { name: "No-show" }).click();
    const dialog = row(second).getByRole("alertdialog");
    await dialog.getByText(/^Mark v-[0-9a-f]+ as not come\?/).waitFor();
    assert.deepEqual(await axeViolations(page), [], "axe-core on the volunteer list with the no-show confirmation");
    await screenshot(page, "console-onsite-desktop");
    await dialog.getByRole("button", { name: "Yes, did not come" }).click();
    await eventually(async () => (await row(second).getAttribute("data-state")) === "no_show", { what: "the second marked no-show" });
    await row(second).getByText("No-show", { exact: true }).waitFor();
    assert.equal(matchDb(second, "state"), "no_show");
    assert.equal(matchDb(second, "checked_in_at IS NULL"), "t");
    assert.equal(sql(suite.matchingDb, `SELECT count(*) FROM matches WHERE task_id = '${taskId}' AND state IN ('completed', 'no_show')`), "2");
    // Accepted now counts only the one who came.
    await eventually(async () => (await staffing(card, "accepted")) === 1, { what: "accepted 1 after the no-show" });
    assert.deepEqual(await axeViolations(page), [], "axe-core on the volunteer list after check-out and no-show");
  } finally {
    for (const context of volunteers) await context.close();
    await coordinator.close();
  }
});
