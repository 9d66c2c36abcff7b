// Right to left must not break the volunteer app: every screen, laid out right to left
// (`?dir=rtl`, the hidden switch for this test; the words stay English) on a small phone
// (360×740), has no horizontal overflow and passes axe-core. Arabic is the likely third
// language; the stylesheet uses logical properties only, and this test keeps it that way.
// Run through deploy/local/browser-test.sh [tests/volunteer-rtl.test.mjs].
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DESKTOP, axeViolations, device, eventually, launch, screenshot, signInCoordinator, suite } from "./support/browser.mjs";
import { createTask, hours, offerAcceptButton, openIncident, unique } from "./support/staff.mjs";
import { qrPng } from "./support/volunteer.mjs";

const SMALL_PHONE = { width: 360, height: 740 };
/** Rostock: far from the other tests' volunteers and tasks. */
const ROSTOCK = { latitude: 54.0887, longitude: 12.1405 };

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** No horizontal scrolling, and no axe-core violation, on the screen now shown. */
async function check(page, screen) {
  assert.equal(await page.evaluate(() => document.documentElement.dir), "rtl", `${screen}: laid out right to left`);
  // Against the phone's width, not innerWidth: a mobile browser widens the layout viewport
  // to fit content that overflows (innerWidth then grows with scrollWidth).
  const layout = await page.evaluate((width) => {
    const wide = [...document.querySelectorAll("body *")]
      .filter((e) => {
        const r = e.getBoundingClientRect();
        return r.width > 1 && (r.right > width + 0.5 || r.left < -0.5);
      })
      .slice(0, 5)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ""}${e.className ? `.${String(e.className).replace(/\s+/g, ".")}` : ""}`);
    return { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, width, wide };
  }, SMALL_PHONE.width);
  assert.ok(
    layout.scrollWidth <= layout.width && layout.innerWidth <= layout.width,
    `${screen}: ${layout.scrollWidth} px wide on a ${layout.width} px screen (${layout.wide.join(", ")})`,
  );
  assert.deepEqual(await axeViolations(page), [], `axe-core on ${screen}`);
}

describe("volunteer app right to left", () => {
  test("every screen fits a 360 px phone right to left and passes axe-core", async () => {
    const coordinator = await device(browser, DESKTOP);
    const context = await device(browser, SMALL_PHONE, {
      isMobile: true,
      hasTouch: true,
      geolocation: ROSTOCK,
      permissions: ["geolocation"],
    });
    try {
      const page = await context.newPage();
      await page.goto(`${suite.web}/?dir=rtl`);
      await page.getByRole("heading", { level: 1, name: "About you" }).waitFor();
      await check(page, "about you");
      await screenshot(page, "volunteer-about-rtl-phone");

      // Errors at the fields (the app's own checks) take room too.
      await page.getByRole("button", { name: "Next", exact: true }).click();
      await page.getByRole("alert").filter({ hasText: "Please check these entries" }).waitFor();
      await check(page, "about you with errors");

      await page.getByLabel("Your name", { exact: true }).fill("Rania Rechts-nach-links");
      await page.getByLabel("Mobile number or e-mail", { exact: true }).fill(`rtl-${Date.now()}-${process.pid}@example.org`);
      await page.getByLabel("Year of birth", { exact: true }).fill("1988");
      await page.getByRole("button", { name: "Next", exact: true }).click();
      await page.getByRole("heading", { level: 1, name: "What you can do" }).waitFor();
      await page.getByRole("button", { name: "Use my location" }).click();
      const location = page.getByLabel("Where you start from (latitude, longitude)", { exact: true });
      await eventually(async () => (await location.inputValue()).includes(","), { what: "the device location" });
      await page.getByLabel("Sandbag filling", { exact: true }).check();
      await page.getByRole("button", { name: "Change times" }).click();
      await page.getByLabel("Available from", { exact: true }).waitFor();
      await check(page, "what you can do (times open)");
      await page.getByLabel("Search skills").fill("driv");
      await check(page, "what you can do (search)");
      await page.getByLabel("Search skills").fill("");
      await page.getByRole("button", { name: "Next", exact: true }).click();

      await page.getByRole("heading", { level: 1, name: "Consent" }).waitFor();
      await check(page, "consent");
      await page.getByRole("link", { name: "How Spontan handles your data" }).click();
      await page.getByRole("heading", { level: 1, name: "How Spontan handles your data" }).waitFor();
      await check(page, "privacy");
      await page.getByRole("button", { name: "Back", exact: true }).click();
      await page.getByLabel(/^I agree that Spontan stores my details/).check();
      await page.getByRole("button", { name: "Register" }).click();

      await page.getByRole("heading", { level: 1, name: "Your offers" }).waitFor({ timeout: 30_000 });
      await page.getByText("No offers right now.").waitFor();
      await page.getByRole("heading", { level: 2, name: "Get offers on this phone?" }).waitFor();
      await check(page, "offers (none, the question about alerts)");
      await page.getByRole("button", { name: "Not now" }).click();

      // An offer, then an accepted task with the check-in form and a scan's error.
      const console_ = await signInCoordinator(coordinator);
      await openIncident(console_, { name: unique("Sturmflut Rostock"), ...ROSTOCK, radiusKm: 15 });
      const title = unique("Deich am Stadthafen mit Sandsäcken sichern");
      await createTask(console_, {
        title,
        priority: "Critical",
        headcount: 1,
        start: hours(1),
        end: hours(3),
        ...ROSTOCK,
        address: "Am Strande 1, 18055 Rostock",
        maxDistanceKm: 20,
      });
      const accept = await offerAcceptButton(page, title, 40_000);
      await check(page, "offers (an offer)");
      await accept.click();
      const card = page.locator("article.card", { has: page.getByRole("heading", { level: 3, name: title, exact: true }) });
      await card.getByText("Accepted: you are expected.").waitFor();
      await card.locator('input[type="file"]').setInputFiles({ name: "other.png", mimeType: "image/png", buffer: qrPng("https://example.org/") });
      await card.getByText("This QR code is not a Spontan check-in code.").waitFor();
      await check(page, "offers (an accepted task, a scan's error)");
      await screenshot(page, "volunteer-task-rtl-phone");

      await page.getByRole("link", { name: "Profile" }).click();
      await page.getByRole("heading", { level: 1, name: "Your profile" }).waitFor();
      await page.getByRole("heading", { level: 2, name: "Alerts on this phone" }).waitFor();
      await check(page, "profile");
      await page.getByRole("button", { name: "Change my details" }).click();
      await page.getByRole("heading", { level: 2, name: "Change your details" }).waitFor();
      await page.getByLabel("How far will you travel? (km)", { exact: true }).fill("500");
      await page.getByRole("button", { name: "Save changes" }).click();
      await page.getByRole("alert").filter({ hasText: "Please check these entries (1)" }).waitFor();
      await check(page, "profile: details editor with an error");
      await page.getByRole("button", { name: "Cancel" }).click();
      await page.getByRole("button", { name: "Change my times" }).click();
      await page.getByRole("button", { name: "Add a time" }).click();
      await check(page, "profile: times editor");
      await page.getByRole("button", { name: "Cancel" }).click();
      await page.getByRole("button", { name: "Delete my data" }).click();
      await page.getByRole("dialog", { name: "Delete all your data?" }).waitFor();
      await check(page, "erasure confirmation");
    } finally {
      await context.close();
      await coordinator.close();
    }
  });
});
