// What every browser test shares: Debian's Chromium driven by playwright-core, the suite
// under test (started by deploy/local/browser-test.sh, which passes its addresses in the
// environment), screenshots for docs/, axe-core checks and database counts.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { AxeBuilder } from "@axe-core/playwright";
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from "../../scripts/chromium.mjs";

/** The running suite: set by deploy/local/browser-test.sh. */
export const suite = {
  web: required("SPONTAN_WEB_URL"),
  /** Admin URLs of the services' databases, for counting what the UI caused. */
  registrationDb: required("SPONTAN_REGISTRATION_DB_URL"),
  taskDb: required("SPONTAN_TASK_DB_URL"),
  matchingDb: required("SPONTAN_MATCHING_DB_URL"),
  /** Organisation the dev sign-in link acts for. */
  organisation: process.env.SPONTAN_ORGANISATION ?? "thw-ov-ahrweiler",
};

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the browser tests through deploy/local/browser-test.sh`);
  return value;
}

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

/** Starts Debian's Chromium with the flags of scripts/chromium.mjs. */
export async function launch() {
  // Playwright gives each launch a fresh temporary profile of its own (no --user-data-dir).
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS });
}

/** A fresh browser context (its own storage: one person's device). */
export async function device(browser, viewport = PHONE, options = {}) {
  return browser.newContext({
    viewport,
    isMobile: viewport === PHONE,
    hasTouch: viewport === PHONE,
    locale: "en-GB",
    ...options,
  });
}

const SCREENSHOTS = resolve(import.meta.dirname, "../../../../../docs/screenshots");

/** Saves a full-page screenshot as docs/screenshots/<name>.png (committed, shown in the README). */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Runs axe-core (WCAG 2.1 A and AA) and returns its violations, formatted for an assertion. */
export async function axeViolations(page) {
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}

/** One value from a database of the suite (psql, so the tests need no driver). */
export function sql(databaseUrl, query) {
  return execFileSync("psql", [databaseUrl, "-qAtc", query], { encoding: "utf8" }).trim();
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually(check, { timeoutMs = 15000, intervalMs = 200, what = "condition" } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${last}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Signs a browser context in as a coordinator through the dev sign-in path; returns the page. */
export async function signInCoordinator(context, organisation = suite.organisation) {
  const page = await context.newPage();
  await page.goto(`${suite.web}/dev/sign-in?role=coordinator&organisation=${encodeURIComponent(organisation)}`);
  await page.waitForURL(/\/console\//);
  return page;
}
