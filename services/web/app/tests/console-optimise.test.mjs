// The optimiser's plans in the coordinator console, against the real suite. A task holds its
// one open offer for a volunteer 9 km away when a volunteer 1 km away registers (the task's
// place is taken, so nobody offers it to them): a plan with move cost 0 withdraws the far
// offer and offers the task to the near volunteer. The coordinator sees those two changes,
// applies exactly that plan, and the near volunteer gets the offer. Elsewhere the plan
// expires before it is applied, and then the far volunteer accepts between the preview and
// Apply: each time the card says so and plans again, the last time finding nothing to change.
// Run through deploy/local/browser-test.sh [tests/console-optimise.test.mjs].
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DESKTOP, PHONE, axeViolations, device, eventually, launch, signInCoordinator, sql, suite } from "./support/browser.mjs";
import { createTask, hours, offerAcceptButton, openIncident, registerVolunteer, staffing, taskIdOf, unique } from "./support/staff.mjs";

// Far from every other test's volunteers and tasks (and from each other), so the matches here
// are ours.
const FREIBURG = { latitude: 47.999, longitude: 7.8421 };
const ULM = { latitude: 48.4011, longitude: 9.9876 };

/** `km` north of `place`. */
const north = (place, km) => ({ latitude: place.latitude + km / 111.2, longitude: place.longitude });

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/**
 * An incident at `place` with one task for one volunteer, offered to a volunteer 9 km north;
 * then a volunteer 1 km north registers and matching knows them. Returns the pages, the
 * task's card and the far volunteer's pseudonym; `contexts` collects what to close.
 */
async function farOfferAndNearVolunteer(place, what, contexts) {
  const coordinator = await device(browser, DESKTOP);
  contexts.push(coordinator);
  const page = await signInCoordinator(coordinator);
  const incidentId = await openIncident(page, { name: unique(`Hochwasser ${what}`), ...place, radiusKm: 25 });
  const title = unique(`Deich sichern ${what}`);
  const card = await createTask(page, {
    title,
    priority: "High",
    headcount: 1,
    start: hours(1),
    end: hours(4),
    ...place,
    address: `Rathausplatz, ${what}`,
    maxDistanceKm: 20,
  });
  const taskId = await taskIdOf(card);

  const tag = `${what.toLowerCase()}.${process.pid}`;
  const farHome = north(place, 9);
  const farContext = await device(browser, PHONE, { geolocation: farHome, permissions: ["geolocation"] });
  contexts.push(farContext);
  const farApp = await registerVolunteer(farContext, { name: `Fernanda Weitweg ${what}`, contact: `far.${tag}@example.org`, radius: 15 });
  const farAccept = await offerAcceptButton(farApp, title);

  // The task's one place is offered to the far volunteer.
  await card.getByRole("button", { name: "Details" }).click();
  const offered = card.locator('li.match[data-state="offered"]');
  await eventually(async () => (await offered.count()) === 1, { timeoutMs: 20_000, what: "the far volunteer's offer in the console" });
  const farRef = await offered.locator(".match__ref").innerText();

  const nearHome = north(place, 1);
  const nearContext = await device(browser, PHONE, { geolocation: nearHome, permissions: ["geolocation"] });
  contexts.push(nearContext);
  const nearApp = await registerVolunteer(nearContext, { name: `Nora Nahbei ${what}`, contact: `near.${tag}@example.org`, radius: 10 });
  await eventually(
    () =>
      Number(
        sql(
          suite.matchingDb,
          `SELECT count(*) FROM volunteers WHERE status = 'active' AND abs(latitude - ${nearHome.latitude}) < 0.002 AND abs(longitude - ${nearHome.longitude}) < 0.002`,
        ),
      ) === 1,
    { timeoutMs: 30_000, what: "the near volunteer in matching" },
  );
  assert.equal(await offered.count(), 1, "the near volunteer is not offered the task: its place is taken");
  return { page, incidentId, taskId, title, card, farApp, farAccept, farRef, nearApp };
}

/** The plan's rows on the card: [kind, task, volunteer ref] each, sorted. */
async function moveRows(page) {
  const rows = page.getByTestId("optimise-moves").locator("tbody tr");
  const out = [];
  for (let i = 0; i < (await rows.count()); i++) {
    const row = rows.nth(i);
    out.push([await row.locator("td").nth(0).innerText(), await row.locator("td").nth(1).innerText(), await row.locator(".match__ref").innerText()]);
  }
  return out.sort();
}

const matchesOf = (taskId) => sql(suite.matchingDb, `SELECT string_agg(state || ':' || cancel_reason, ',' ORDER BY state) FROM matches WHERE task_id = '${taskId}'`);
const plansOf = (incidentId) => Number(sql(suite.matchingDb, `SELECT count(*) FROM optimization_plans WHERE incident_id = '${incidentId}'`));

describe("optimisation plans in the console", () => {
  test("a plan with move cost 0 moves the far offer to the near volunteer, shown move by move and applied as shown", async () => {
    const contexts = [];
    try {
      const { page, incidentId, taskId, title, card, farRef, nearApp } = await farOfferAndNearVolunteer(FREIBURG, "Freiburg", contexts);
      const moveCost = page.getByLabel("Move cost (km)", { exact: true });

      // Out of range: said at the field, nothing planned.
      await moveCost.fill("1001");
      await page.getByRole("button", { name: "Preview" }).click();
      await page.locator("#optimise-move-cost-error").getByText("Between 0 and 1,000 km.").waitFor();
      assert.equal(await moveCost.getAttribute("aria-invalid"), "true");
      assert.match(await moveCost.getAttribute("aria-describedby"), /optimise-move-cost-error/);
      assert.equal(await page.evaluate(() => document.activeElement?.id), "optimise-move-cost");
      assert.equal(plansOf(incidentId), 0, "nothing was planned");

      // Move cost 0: any saving in travel moves an open offer.
      await moveCost.fill("0");
      await page.getByRole("button", { name: "Preview" }).click();
      const preview = page.getByTestId("optimise-preview");
      await preview.getByTestId("optimise-moves").waitFor();
      assert.equal(await moveCost.getAttribute("aria-invalid"), null, "the field error is gone");
      await preview.getByRole("table", { name: "Changes in this plan (2)" }).waitFor();
      const rows = await moveRows(page);
      assert.equal(rows.length, 2);
      const [offer, withdrawal] = rows;
      assert.deepEqual(withdrawal, ["Withdrawn", title, farRef]);
      assert.equal(offer[0], "New offer");
      assert.equal(offer[1], title);
      assert.match(offer[2], /^v-[0-9a-f]+$/);
      assert.notEqual(offer[2], farRef);
      const nearRef = offer[2];
      assert.match(await preview.locator('tr[data-kind="offer"] .optimise__why').innerText(), /^Why: \S/);
      await preview.getByText(/^Planned with a move cost of 0 km\. Can be applied until \d\d:\d\d\./).waitFor();
      // The travel falls from about 9 km to about 1 km.
      const travel = preview.getByRole("row", { name: /^Total travel/ });
      assert.match(await travel.innerText(), /^Total travel\s+(8\.\d|9\.\d) km\s+(0\.\d|1\.\d) km$/);
      assert.equal(matchesOf(taskId), "offered:0", "a plan changes nothing");
      assert.equal(plansOf(incidentId), 1);
      assert.deepEqual(await axeViolations(page), [], "axe-core on the plan with its changes");

      // Apply: exactly this plan.
      await preview.getByRole("button", { name: "Apply" }).click();
      await page.getByText("Applied: 1 new offer(s) made, 1 open offer(s) withdrawn.").waitFor();
      assert.equal(await page.getByTestId("optimise-preview").count(), 0);
      assert.equal(plansOf(incidentId), 1, "applied the plan made, planned nothing new");
      assert.equal(matchesOf(taskId), "cancelled:9,offered:0", "the far offer withdrawn (REOPTIMIZED), the near one made");

      // The staffing view shows the new offer; the withdrawn one is among the earlier ones.
      const offered = card.locator('li.match[data-state="offered"]');
      await eventually(async () => (await offered.count()) === 1 && (await offered.locator(".match__ref").innerText()) === nearRef, {
        what: "the near volunteer's offer in the staffing view",
      });
      await eventually(async () => (await staffing(card, "offered")) === 1, { what: "offered 1 on the card" });
      await card.getByRole("button", { name: "Show 1 earlier offer(s) (declined, expired or withdrawn)" }).click();
      const withdrawn = card.locator('li.match[data-state="cancelled"]');
      assert.equal(await withdrawn.locator(".match__ref").innerText(), farRef);
      await withdrawn.getByText("Withdrawn", { exact: true }).waitFor();

      // … and the near volunteer has it in the app.
      await offerAcceptButton(nearApp, title);
    } finally {
      for (const context of contexts) await context.close();
    }
  });

  test("an expired plan and a plan the incident overtook are not applied: the card says so and plans again", async () => {
    const contexts = [];
    try {
      const { page, incidentId, taskId, farAccept, farApp, title } = await farOfferAndNearVolunteer(ULM, "Ulm", contexts);
      await page.getByLabel("Move cost (km)", { exact: true }).fill("0");
      const plan = async () => {
        await page.getByRole("button", { name: "Preview" }).click();
        await page.getByTestId("optimise-moves").waitFor();
        assert.equal((await moveRows(page)).length, 2);
      };
      const outdated = page.getByTestId("optimise-outdated");
      const planAgain = outdated.getByRole("button", { name: "Plan again" });

      // The plan's time runs out before Apply (10 minutes in this suite: moved into the past).
      await plan();
      sql(suite.matchingDb, `UPDATE optimization_plans SET expires_at = now() - interval '1 second' WHERE incident_id = '${incidentId}' AND applied_at IS NULL`);
      await page.getByRole("button", { name: "Apply" }).click();
      await outdated.getByRole("alert").getByText("This plan could only be applied for a limited time and has expired — plan again.").waitFor();
      assert.equal(await page.getByTestId("optimise-preview").count(), 0, "the expired plan is gone");
      await eventually(async () => (await page.evaluate(() => document.activeElement?.textContent)) === "Plan again", { what: "focus on Plan again" });
      assert.equal(matchesOf(taskId), "offered:0", "nothing applied");

      // Plan again; then the far volunteer accepts before the coordinator applies.
      await planAgain.click();
      await page.getByTestId("optimise-moves").waitFor();
      assert.equal(await outdated.count(), 0);
      assert.equal((await moveRows(page)).length, 2);
      await farAccept.click();
      await farApp.getByText(`You accepted “${title}”`).waitFor();
      await page.getByRole("button", { name: "Apply" }).click();
      await outdated.getByRole("alert").getByText("The incident changed since this plan was made — plan again.").waitFor();
      assert.equal(await page.getByTestId("optimise-preview").count(), 0, "the stale plan is gone");
      assert.equal(matchesOf(taskId), "accepted:0", "nothing applied: the far volunteer keeps the accepted task, nobody else was offered it");
      assert.deepEqual(await axeViolations(page), [], "axe-core on the card with a stale plan");

      // Planned again, the accepted volunteer stays: nothing to change, nothing to apply.
      await planAgain.click();
      await page.getByTestId("optimise-no-changes").getByText("No changes: the current offers are already the best plan.").waitFor();
      assert.equal(await outdated.count(), 0);
      assert.equal(await page.getByRole("button", { name: "Apply" }).count(), 0);
    } finally {
      for (const context of contexts) await context.close();
    }
  });
});
