// Check-in by scanning the QR code the coordinator's screen shows at the meeting point: the
// volunteer takes a photo ("Scan the code", a file input that opens the camera on phones),
// the app reads the code (jsQR here: headless Chromium on Linux has no BarcodeDetector) and
// checks in with the code's text. Photos of another task's code, of a QR code that is not a
// check-in code and of no code at all are each explained at the field.
// Run through deploy/local/browser-test.sh [tests/volunteer-scan.test.mjs].
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { DESKTOP, PHONE, axeViolations, device, launch, screenshot, signInCoordinator, sql, suite } from "./support/browser.mjs";
import { createTask, hours, offerAcceptButton, openIncident, registerVolunteer, taskIdOf, unique } from "./support/staff.mjs";
import { checkInQrText, plainPng, qrPng } from "./support/volunteer.mjs";

/** Lübeck: far from the other tests' volunteers and tasks. */
const LUEBECK = { latitude: 53.8655, longitude: 10.6866 };

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

const photo = (name, buffer) => ({ name, mimeType: "image/png", buffer });

describe("volunteer app: check-in by scanning", () => {
  test("a photo of the task's QR code checks in; other codes are explained at the field", async () => {
    const coordinator = await device(browser, DESKTOP);
    const context = await device(browser, PHONE, { geolocation: LUEBECK, permissions: ["geolocation"] });
    try {
      const console_ = await signInCoordinator(coordinator);
      await openIncident(console_, { name: unique("Hochwasser Lübeck"), ...LUEBECK, radiusKm: 15 });
      const title = unique("Sandsäcke an der Obertrave");
      const taskId = await taskIdOf(
        await createTask(console_, {
          title,
          priority: "High",
          headcount: 1,
          start: hours(1),
          end: hours(3),
          ...LUEBECK,
          address: "An der Obertrave 1, 23552 Lübeck",
          maxDistanceKm: 20,
        }),
      );

      const page = await registerVolunteer(context, { name: "Sven Scan", contact: `scan-${Date.now()}-${process.pid}@example.org` });
      const { volunteerId } = await page.evaluate(() => JSON.parse(localStorage.getItem("spontan.session")));
      await page.getByRole("button", { name: "Not now" }).click();
      await (await offerAcceptButton(page, title, 40_000)).click();
      const card = page.locator("article.card", { has: page.getByRole("heading", { level: 3, name: title, exact: true }) });
      await card.getByText("Accepted: you are expected.").waitFor();
      const scan = card.getByRole("button", { name: "Scan the code" });
      await scan.waitFor();
      const input = card.locator('input[type="file"]');
      assert.equal(await input.getAttribute("accept"), "image/*");
      assert.equal(await input.getAttribute("capture"), "environment");
      const field = card.getByLabel("Check-in code", { exact: true });
      const error = card.locator(".field-error");

      // Another task's code: said at the field, nothing sent.
      await input.setInputFiles(photo("other.png", qrPng(`spontan-checkin:${randomUUID()}:123456`)));
      await error.getByText(`This code is for another task. Scan the code at the meeting point of “${title}”.`).waitFor();
      assert.equal(await field.getAttribute("aria-invalid"), "true");
      assert.deepEqual(await axeViolations(page), [], "axe-core with the scan's error at the field");
      await screenshot(page, "volunteer-scan-other-task-phone");

      // A QR code that is no check-in code, and a photo without one.
      await input.setInputFiles(photo("web.png", qrPng("https://example.org/")));
      await error.getByText("This QR code is not a Spontan check-in code.").waitFor();
      await input.setInputFiles(photo("blank.png", plainPng()));
      await error.getByText(/^No QR code found in the photo/).waitFor();
      assert.equal(
        sql(suite.matchingDb, `SELECT state FROM matches WHERE task_id = '${taskId}' AND volunteer_id = '${volunteerId}'`),
        "accepted",
      );

      // The task's own code, as the coordinator's screen shows it now: checked in.
      const text = checkInQrText(taskId);
      await input.setInputFiles(photo("checkin.png", qrPng(text)));
      await card.getByText("Checked in: you are on site.").waitFor({ timeout: 20_000 });
      await page.getByText(`You are checked in for “${title}”.`).first().waitFor();
      assert.equal(
        sql(suite.matchingDb, `SELECT state FROM matches WHERE task_id = '${taskId}' AND volunteer_id = '${volunteerId}'`),
        "checked_in",
      );
      await screenshot(page, "volunteer-scanned-phone");
    } finally {
      await context.close();
      await coordinator.close();
    }
  });
});
