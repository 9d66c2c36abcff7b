// Touch targets of the volunteer app on a small phone (360 px wide): every control a thumb
// has to hit is at least 44 × 44 CSS pixels (WCAG 2.5.5), counting a checkbox's or radio
// button's label, which takes the tap for it; links inside running text are exempt, as
// WCAG exempts them. And nothing is wider than the screen.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { device, launch, suite } from "./support/browser.mjs";

const SMALL_PHONE = { width: 360, height: 740 };
const MIN = 44;

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

/** How many controls were measured, and those smaller than MIN in either direction. */
async function smallTargets(page) {
  return page.evaluate((min) => {
    const small = [];
    let checked = 0;
    const visible = (el) => {
      const style = getComputedStyle(el);
      const box = el.getBoundingClientRect();
      return style.visibility !== "hidden" && style.display !== "none" && box.width > 0 && box.height > 0;
    };
    const inRunningText = (el) => el.tagName === "A" && el.closest("p, li, dd, small") !== null;
    for (const el of document.querySelectorAll("button, a[href], input, select, textarea, summary")) {
      if (!visible(el) || inRunningText(el) || el.type === "hidden") continue;
      const target = (el.type === "checkbox" || el.type === "radio") && el.closest("label") ? el.closest("label") : el;
      const box = target.getBoundingClientRect();
      checked++;
      if (box.width < min || box.height < min) {
        const name = el.getAttribute("aria-label") || el.labels?.[0]?.innerText || el.innerText || el.name || el.tagName;
        small.push(`${el.tagName.toLowerCase()} "${name.trim().slice(0, 40)}" ${Math.round(box.width)}×${Math.round(box.height)}`);
      }
    }
    return { checked, small };
  }, MIN);
}

async function overflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

test("the registration screens' controls are big enough for a thumb on a 360 px phone", async () => {
  const context = await device(browser, SMALL_PHONE, { geolocation: { latitude: 50.54, longitude: 7.11 }, permissions: ["geolocation"] });
  try {
    const page = await context.newPage();
    await page.goto(suite.web);
    await page.getByRole("heading", { level: 1, name: "About you" }).waitFor();
    const problems = {};
    const about = await smallTargets(page);
    assert.ok(about.checked >= 3, `only ${about.checked} controls found on about`);
    problems.about = about.small;
    assert.ok((await overflow(page)) <= 0, "screen 1 is wider than the phone");

    await page.getByLabel("Your name", { exact: true }).fill("Kim Daumen");
    await page.getByLabel("Mobile number or e-mail", { exact: true }).fill("kim.daumen@example.org");
    await page.getByLabel("Year of birth", { exact: true }).fill("1990");
    await page.getByRole("button", { name: "Next", exact: true }).click();
    await page.getByRole("heading", { level: 1, name: "What you can do" }).waitFor();
    const skills = await smallTargets(page);
    assert.ok(skills.checked >= 3, `only ${skills.checked} controls found on skills`);
    problems.skills = skills.small;
    assert.ok((await overflow(page)) <= 0, "screen 2 is wider than the phone");

    await page.getByRole("button", { name: "Use my location" }).click();
    await page.getByRole("button", { name: "Next", exact: true }).click();
    await page.getByRole("heading", { level: 1, name: "Consent" }).waitFor();
    const consent = await smallTargets(page);
    assert.ok(consent.checked >= 3, `only ${consent.checked} controls found on consent`);
    problems.consent = consent.small;
    assert.ok((await overflow(page)) <= 0, "screen 3 is wider than the phone");

    const found = Object.entries(problems).filter(([, list]) => list.length);
    assert.deepEqual(found, [], `controls under ${MIN} px:\n${found.map(([s, l]) => `${s}: ${l.join("; ")}`).join("\n")}`);
  } finally {
    await context.close();
  }
});
