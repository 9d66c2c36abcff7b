// The web clients' budgets, measured against the running suite (docs/benchmarks.md): the
// initial JavaScript of each page (measured by scripts/budgets.mjs at build time) and
// Lighthouse on the registration page in mobile emulation. The figures of the last run are
// written to docs/bench/web-budgets.json for the benchmark report.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { record } from "./support/bench.mjs";
import { suite } from "./support/browser.mjs";

const APP = resolve(import.meta.dirname, "..");

test("every page's initial JavaScript is within its budget", () => {
  const sizes = JSON.parse(readFileSync(join(APP, "dist", "budgets.json"), "utf8"));
  for (const [page, { initialKb, budgetKb }] of Object.entries(sizes)) {
    assert.ok(initialKb <= budgetKb, `${page}: ${initialKb} KB > ${budgetKb} KB`);
  }
  record({ initialJavaScript: sizes });
});

test("the registration page meets its Lighthouse budgets on a phone", { timeout: 180_000 }, async () => {
  const out = join(APP, "dist", "lighthouse.json");
  try {
    await promisify(execFile)(process.execPath, [join(APP, "scripts", "lighthouse.mjs"), `${suite.web}/`, out], {
      cwd: APP,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    assert.fail(`lighthouse budgets missed:\n${error.stdout}\n${error.stderr}`);
  }
  const report = JSON.parse(readFileSync(out, "utf8"));
  assert.ok(report.scores.performance >= 90);
  assert.equal(report.scores.accessibility, 100);
  assert.ok(report.scores["best-practices"] >= 95);
  record({ lighthouseRegistration: { ...report, url: "/" } });
});
