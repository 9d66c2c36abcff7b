// Lighthouse on the volunteer app's registration page, as a phone sees it (Lighthouse's
// mobile emulation: Moto G-class CPU, slow 4G, simulated throttling), against the running
// suite. Checks the budgets of docs/benchmarks.md and writes the scores and the main timings
// to the file named by the second argument (JSON). Usage:
//   node scripts/lighthouse.mjs http://127.0.0.1:8080/ [out.json]
import { writeFileSync } from "node:fs";
import { launch } from "chrome-launcher";
import lighthouse from "lighthouse";
import { CHROMIUM_FLAGS, CHROMIUM_PATH } from "./chromium.mjs";

const BUDGETS = { performance: 90, accessibility: 100, "best-practices": 95 };

const url = process.argv[2];
if (!url) throw new Error("usage: node scripts/lighthouse.mjs URL [out.json]");

/** One Lighthouse run in a fresh headless Chromium. */
async function run() {
  const chrome = await launch({
    chromePath: CHROMIUM_PATH,
    chromeFlags: ["--headless=new", ...CHROMIUM_FLAGS],
  });
  try {
    const result = await lighthouse(url, {
      port: chrome.port,
      output: "json",
      logLevel: "error",
      onlyCategories: Object.keys(BUDGETS),
    });
    return result.lhr;
  } finally {
    chrome.kill();
  }
}

// A run whose trace Lighthouse cannot read (NO_NAVSTART, seen now and then with a Chromium
// much newer than Lighthouse 12) measured nothing: it is repeated, up to three times.
async function measured() {
  for (let attempt = 1; ; attempt++) {
    const lhr = await run();
    if (!lhr.runtimeError) return lhr;
    console.error(`lighthouse run ${attempt}: ${lhr.runtimeError.code} ${lhr.runtimeError.message}`);
    if (attempt === 3) throw new Error(`lighthouse: ${lhr.runtimeError.code}`);
  }
}

const scoreOf = (lhr, id) => Math.round((lhr.categories[id]?.score ?? 0) * 100);
const meets = (lhr) => Object.entries(BUDGETS).every(([id, min]) => scoreOf(lhr, id) >= min);

// One run decides when it meets every budget. Otherwise the page is measured three times and
// the median run (by performance) decides, as Lighthouse's guidance on variability advises: a
// single run on a busy two-core machine can lose points to another process's CPU time, and
// the median passes only when two of three runs do.
const runs = [await measured()];
if (!meets(runs[0])) {
  console.error(`lighthouse: the first run missed a budget (performance ${scoreOf(runs[0], "performance")}); measuring twice more for the median`);
  runs.push(await measured(), await measured());
  runs.sort((a, b) => scoreOf(a, "performance") - scoreOf(b, "performance"));
}
const lhr = runs[Math.floor(runs.length / 2)];

const scores = Object.fromEntries(Object.keys(BUDGETS).map((id) => [id, scoreOf(lhr, id)]));
const timing = (id) => Math.round(lhr.audits[id]?.numericValue ?? NaN);
const report = {
  url,
  lighthouse: lhr.lighthouseVersion,
  formFactor: lhr.configSettings.formFactor,
  fetchTime: lhr.fetchTime,
  scores,
  firstContentfulPaintMs: timing("first-contentful-paint"),
  largestContentfulPaintMs: timing("largest-contentful-paint"),
  totalBlockingTimeMs: timing("total-blocking-time"),
  cumulativeLayoutShift: lhr.audits["cumulative-layout-shift"]?.numericValue ?? null,
  speedIndexMs: timing("speed-index"),
  runs: runs.length,
  performanceOfRuns: runs.map((r) => scoreOf(r, "performance")),
};
console.log(JSON.stringify(report, null, 2));
if (process.argv[3]) writeFileSync(process.argv[3], JSON.stringify(report, null, 2));

const failures = [];
for (const [id, min] of Object.entries(BUDGETS)) {
  if (scores[id] < min) failures.push(`${id} ${scores[id]} < ${min}`);
}
// Say which audits cost the points, so a failure can be acted on.
for (const id of Object.keys(BUDGETS)) {
  for (const ref of lhr.categories[id]?.auditRefs ?? []) {
    const audit = lhr.audits[ref.id];
    if (ref.weight > 0 && audit && audit.score !== null && audit.score < 1) {
      console.log(`  ${id}: ${ref.id} scored ${audit.score} ${audit.displayValue ?? ""}`);
    }
  }
}
if (failures.length) {
  console.error(`lighthouse budgets missed: ${failures.join(", ")}`);
  process.exit(1);
}
