// Changing the profile after registering: details through UpdateMyProfile (a field mask of
// what changed, the profile's version), times through SetAvailability; the server's field
// violations at their fields; a profile changed on another device meanwhile (ABORTED); the
// switch "Only essential messages" (UpdateMyProfile `messages_opt_out`).
// Run through deploy/local/browser-test.sh [tests/volunteer-profile.test.mjs].
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PHONE, axeViolations, device, eventually, launch, screenshot, sql, suite } from "./support/browser.mjs";
import { localInput, registerVolunteer } from "./support/staff.mjs";

/** Somewhere no task of the other tests is. */
const HOME = { latitude: 51.3127, longitude: 9.4797 };

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function volunteer(what) {
  const context = await device(browser, PHONE, { geolocation: HOME, permissions: ["geolocation"] });
  const page = await registerVolunteer(context, {
    name: `Petra ${what}`,
    contact: `${what}-${Date.now()}-${process.pid}@example.org`,
  });
  await page.getByRole("button", { name: "Not now" }).click();
  const { volunteerId } = await page.evaluate(() => JSON.parse(localStorage.getItem("spontan.session")));
  await page.getByRole("link", { name: "Profile" }).click();
  await page.getByRole("heading", { level: 1, name: "Your profile" }).waitFor();
  return { context, page, volunteerId };
}

/** The texts an input is described by (its hint and its errors), joined. */
async function description(page, locator) {
  const ids = ((await locator.getAttribute("aria-describedby")) ?? "").split(/\s+/).filter(Boolean);
  const texts = [];
  for (const id of ids) texts.push(await page.locator(`[id="${id}"]`).innerText());
  return texts.join(" | ");
}

const row = (volunteerId, columns) =>
  sql(suite.registrationDb, `SELECT ${columns} FROM volunteers WHERE id = '${volunteerId}'`);

describe("volunteer app: changing the profile", () => {
  test("details: the server's refusals at their fields, then the radius and a skill saved and shown after a reload", async () => {
    const { context, page, volunteerId } = await volunteer("details");
    try {
      await page.getByText("15 km", { exact: true }).waitFor();
      await page.getByRole("button", { name: "Change my details" }).click();
      await page.getByRole("heading", { level: 2, name: "Change your details" }).waitFor();
      const radius = page.getByLabel("How far will you travel? (km)", { exact: true });
      const phone = page.getByLabel("Mobile number", { exact: true });
      assert.equal(await radius.inputValue(), "15");

      // Both are numbers the app can send; the server refuses both, each at its field.
      await radius.fill("500");
      await phone.fill("+12");
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByRole("alert").filter({ hasText: "Please check these entries (2)" }).waitFor();
      assert.equal(await radius.getAttribute("aria-invalid"), "true");
      assert.match(await description(page, radius), /between 1 and 200/);
      assert.equal(await phone.getAttribute("aria-invalid"), "true");
      assert.match(await description(page, phone), /E\.164/);
      // The first field with a problem has the focus.
      assert.equal(await page.evaluate(() => document.activeElement?.id), "field-phone");
      const name = page.getByLabel("Your name", { exact: true });
      assert.equal(await name.getAttribute("aria-invalid"), null, "fields the server accepted are not marked");
      assert.deepEqual(await axeViolations(page), [], "axe-core on the editor with errors");
      await screenshot(page, "volunteer-profile-edit-errors-phone");
      assert.equal(row(volunteerId, "travel_radius_km"), "15", "nothing stored");

      // Corrected: a radius, no phone number, one skill more and one less.
      await radius.fill("25");
      assert.equal(await radius.getAttribute("aria-invalid"), null, "editing a field clears its mark");
      await phone.fill("");
      await page.getByLabel("Sandbag filling", { exact: true }).uncheck();
      await page.getByLabel("Mud clearing", { exact: true }).check();
      const sent = page.waitForRequest((r) => r.url().endsWith("/spontan.v1.RegistrationService/UpdateMyProfile"));
      await page.getByRole("button", { name: "Save changes" }).click();
      // Only what changed is in the mask (the request is protobuf: the paths are readable in it).
      const body = (await sent).postDataBuffer().toString("latin1");
      for (const path of ["travel_radius_km", "skill_ids"]) assert.ok(body.includes(path), `${path} in the mask`);
      for (const path of ["contact.display_name", "contact.email", "birth_year", "home_location", "languages"]) {
        assert.ok(!body.includes(path), `${path} not in the mask`);
      }
      await page.getByText("Your changes are saved.").first().waitFor();
      await page.getByText("25 km", { exact: true }).waitFor();
      await page.getByText("Mud clearing", { exact: true }).waitFor();
      // The focus is back on the button that opened the editor.
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Change my details");
      assert.equal(row(volunteerId, "travel_radius_km || '|' || array_to_string(skill_ids, ',')"), "25|mud_clearing");

      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Your profile" }).waitFor();
      await page.getByText("25 km", { exact: true }).waitFor();
      await page.getByText("Mud clearing", { exact: true }).waitFor();
      assert.equal(await page.getByText("Sandbag filling", { exact: true }).count(), 0);
      await page.getByRole("button", { name: "Change my details" }).click();
      assert.equal(await page.getByLabel("How far will you travel? (km)", { exact: true }).inputValue(), "25");
      assert.deepEqual(await axeViolations(page), [], "axe-core on the editor");
      await screenshot(page, "volunteer-profile-edit-phone");
    } finally {
      await context.close();
    }
  });

  test("times: an overlap is refused at its field; a second time saved and shown after a reload", async () => {
    const { context, page, volunteerId } = await volunteer("times");
    try {
      const count = () => Number(sql(suite.registrationDb, `SELECT count(*) FROM availability WHERE volunteer_id = '${volunteerId}'`));
      assert.equal(count(), 1, "the default week");
      await page.getByRole("button", { name: "Change my times" }).click();
      await page.getByRole("heading", { level: 3, name: "Change your times" }).waitFor();
      await page.getByRole("group", { name: "Time 1" }).waitFor();
      await page.getByRole("button", { name: "Add a time" }).click();
      const second = page.getByRole("group", { name: "Time 2" });
      // The new time (tomorrow, 9 to 17) lies inside the default week: the server refuses it.
      await page.getByRole("button", { name: "Save changes" }).click();
      const from = second.getByLabel("Available from", { exact: true });
      await eventually(async () => (await from.getAttribute("aria-invalid")) === "true", { what: "the overlap marked" });
      assert.match(await description(page, from), /overlaps Time 1/);
      assert.deepEqual(await axeViolations(page), [], "axe-core on the times with an error");
      await screenshot(page, "volunteer-profile-times-errors-phone");

      // Ten days from now, after the default week: saved.
      const day = new Date(Date.now() + 10 * 86_400_000);
      day.setHours(9, 0, 0, 0);
      await from.fill(localInput(day));
      await second.getByLabel("Available until", { exact: true }).fill(localInput(new Date(day.getTime() + 6 * 3_600_000)));
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByText("Your times are saved.").first().waitFor();
      await eventually(() => count() === 2, { what: "two windows stored" });
      const times = page.locator("ul.times li");
      assert.equal(await times.count(), 2);

      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Your profile" }).waitFor();
      await page.locator("ul.times li").nth(1).waitFor();
      assert.equal(await page.locator("ul.times li").count(), 2);

      // Removing one leaves one.
      await page.getByRole("button", { name: "Change my times" }).click();
      await page.getByRole("button", { name: "Remove time 2" }).click();
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByText("Your times are saved.").first().waitFor();
      await eventually(() => count() === 1, { what: "one window stored" });
    } finally {
      await context.close();
    }
  });

  test("only essential messages: switched on, kept after a reload, a failed save said at the switch, off again", async () => {
    const { context, page, volunteerId } = await volunteer("messages");
    try {
      const toggle = page.getByRole("switch", { name: "Only essential messages", exact: true });
      assert.equal(await toggle.isChecked(), false, "off after registering");
      assert.equal(row(volunteerId, "messages_opt_out"), "f");
      assert.match(await description(page, toggle), /urgent messages/, "the hint says what still comes");

      const sent = page.waitForRequest((r) => r.url().endsWith("/spontan.v1.RegistrationService/UpdateMyProfile"));
      await toggle.check();
      const body = (await sent).postDataBuffer().toString("latin1");
      assert.ok(body.includes("messages_opt_out"), "messages_opt_out in the mask");
      await page.getByText("Saved: only essential messages come to you.").first().waitFor();
      await eventually(() => row(volunteerId, "messages_opt_out") === "t", { what: "the opt-out stored" });
      assert.deepEqual(await axeViolations(page), [], "axe-core on the profile with the switch on");

      await page.reload();
      await page.getByRole("heading", { level: 1, name: "Your profile" }).waitFor();
      await eventually(() => toggle.isChecked(), { what: "the switch on after a reload" });

      // The save fails (no connection): said beside the switch, which shows what is stored.
      const offline = (route) => route.abort("internetdisconnected");
      await page.route("**/spontan.v1.RegistrationService/UpdateMyProfile", offline);
      await toggle.click();
      const problem = page.locator('section[aria-labelledby="messages-title"] [role="alert"]');
      await problem.filter({ hasText: "Your choice was not saved. No connection." }).waitFor();
      assert.equal(await toggle.isChecked(), true, "back to what is stored");
      assert.match(await description(page, toggle), /not saved/, "the switch is described by the problem");
      assert.equal(row(volunteerId, "messages_opt_out"), "t");
      await page.unroute("**/spontan.v1.RegistrationService/UpdateMyProfile", offline);

      // Switching again is the retry.
      await toggle.uncheck();
      await page.getByText("Saved: you get reminders and all messages from coordinators.").first().waitFor();
      assert.equal(await problem.count(), 0, "the problem is gone");
      await eventually(() => row(volunteerId, "messages_opt_out") === "f", { what: "the opt-out cleared" });

      await page.getByRole("button", { name: "Deutsch" }).click();
      await page.getByRole("switch", { name: "Nur wichtige Nachrichten", exact: true }).waitFor();
    } finally {
      await context.close();
    }
  });

  test("a profile changed on another device meanwhile: other fields are merged, the same field is asked again", async () => {
    const { context, page, volunteerId } = await volunteer("stale");
    try {
      // This tab opens the editor on version n.
      await page.getByRole("button", { name: "Change my details" }).click();
      await page.getByRole("heading", { level: 2, name: "Change your details" }).waitFor();
      // Meanwhile the radius changes on another device (a second tab with the same session).
      const other = await context.newPage();
      await other.goto(`${suite.web}/#/profile`);
      await other.getByRole("button", { name: "Change my details" }).click();
      await other.getByLabel("How far will you travel? (km)", { exact: true }).fill("30");
      await other.getByRole("button", { name: "Save changes" }).click();
      await other.getByText("Your changes are saved.").first().waitFor();
      await other.close();

      // Another field here: sent again on the new version, both changes kept.
      await page.getByLabel("Mud clearing", { exact: true }).check();
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByText("Your profile had changed meanwhile; your changes were added to the latest version.").first().waitFor();
      assert.equal(row(volunteerId, "travel_radius_km || '|' || array_to_string(skill_ids, ',')"), "30|sandbag_filling,mud_clearing");

      // The same field changed on both: the new value is shown around the volunteer's own,
      // and nothing is overwritten until they save again.
      await page.getByRole("button", { name: "Change my details" }).click();
      const second = await context.newPage();
      await second.goto(`${suite.web}/#/profile`);
      await second.getByRole("button", { name: "Change my details" }).click();
      await second.getByLabel("How far will you travel? (km)", { exact: true }).fill("40");
      await second.getByLabel("Languages you speak", { exact: true }).fill("en, uk");
      await second.getByRole("button", { name: "Save changes" }).click();
      await second.getByText("Your changes are saved.").first().waitFor();
      await second.close();

      await page.getByLabel("How far will you travel? (km)", { exact: true }).fill("50");
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByText(/^Your profile was changed on another device while you were editing/).waitFor();
      assert.equal(row(volunteerId, "travel_radius_km"), "40", "not overwritten");
      assert.equal(await page.getByLabel("How far will you travel? (km)", { exact: true }).inputValue(), "50", "the volunteer's value stays");
      assert.equal(await page.getByLabel("Languages you speak", { exact: true }).inputValue(), "en, uk", "the other device's value shows");
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByText("Your changes are saved.").first().waitFor();
      assert.equal(row(volunteerId, "travel_radius_km || '|' || array_to_string(languages, ',')"), "50|en,uk");
    } finally {
      await context.close();
    }
  });
});
