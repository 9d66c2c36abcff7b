// The volunteer app's first paint does not wait for its JavaScript: index.html itself holds
// the app's bar and the outline of a screen (no inline script or style, which the CSP
// forbids), and the app replaces them on mount with a bar of the same height.
// Run through deploy/local/browser-test.sh [tests/volunteer-first-paint.test.mjs].
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PHONE, device, launch, screenshot, suite } from "./support/browser.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

describe("volunteer app: first paint", () => {
  test("the page paints its bar and outline without JavaScript; the app's bar has the same height", async () => {
    const html = await (await fetch(`${suite.web}/`)).text();
    assert.match(html, /<header class="bar">\s*<span class="brand">Spontan<\/span>/);
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, "no inline script");
    assert.doesNotMatch(html, /<style|\sstyle="/, "no inline style");
    assert.match(html, /<link rel="preload" href="\/config.json" as="fetch" crossorigin/);
    // (Chromium with scripts switched off by a test still parses <noscript> as raw text.)
    assert.match(html, /<noscript><p>Spontan needs JavaScript\. \/ Spontan braucht JavaScript\.<\/p><\/noscript>/);

    const still = await device(browser, PHONE, { javaScriptEnabled: false });
    const running = await device(browser, PHONE);
    try {
      const page = await still.newPage();
      await page.goto(suite.web);
      await page.locator("header.bar .brand", { hasText: "Spontan" }).waitFor();
      assert.ok((await page.locator(".skeleton").count()) > 3, "the outline of a screen");
      const staticBar = await page.locator("header.bar").boundingBox();
      await screenshot(page, "volunteer-without-script-phone");

      const app = await running.newPage();
      await app.goto(suite.web);
      await app.getByRole("heading", { level: 1, name: "About you" }).waitFor();
      assert.equal(await app.locator(".skeleton").count(), 0, "the outline is gone once the app runs");
      const appBar = await app.locator("header.bar").boundingBox();
      assert.equal(Math.round(staticBar.height), Math.round(appBar.height), "the bar does not jump");
    } finally {
      await still.close();
      await running.close();
    }
  });
});
