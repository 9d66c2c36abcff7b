// Size budgets of the web clients, checked after every build (npm run build, and so in CI).
// "Initial JavaScript" is what a page loads before it can be used: the entry script of its
// HTML and every chunk the entry imports statically (modulepreload), gzipped at level 9 as a
// server or CDN would send it. Chunks loaded with import() (the map library) are not initial,
// and are reported separately. Prints a table; exits 1 when a page is over its budget.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const DIST = join(import.meta.dirname, "..", "dist");
const BUDGETS_KB = { "index.html": 70, "console/index.html": 150, "dashboard/index.html": 350 };

const manifest = JSON.parse(readFileSync(join(DIST, ".vite", "manifest.json"), "utf8"));
const gz = (file) => gzipSync(readFileSync(join(DIST, file)), { level: 9 }).length;

/** Files loaded statically from a manifest entry, and those loaded dynamically. */
function closure(key, seen = new Set(), lazy = new Set()) {
  const chunk = manifest[key];
  if (!chunk || seen.has(chunk.file)) return { seen, lazy };
  seen.add(chunk.file);
  for (const imported of chunk.imports ?? []) closure(imported, seen, lazy);
  for (const dynamic of chunk.dynamicImports ?? []) lazy.add(dynamic);
  return { seen, lazy };
}

let failed = false;
const report = {};
for (const [page, budget] of Object.entries(BUDGETS_KB)) {
  const { seen, lazy } = closure(page);
  if (seen.size === 0) throw new Error(`${page} is not in the build manifest`);
  const initial = [...seen].reduce((sum, file) => sum + gz(file), 0);
  // Everything reachable through import(), also from inside modules loaded that way.
  const lazyFiles = new Set();
  const pending = [...lazy];
  const visited = new Set();
  while (pending.length) {
    const key = pending.pop();
    if (visited.has(key)) continue;
    visited.add(key);
    const inner = closure(key);
    for (const file of inner.seen) if (!seen.has(file)) lazyFiles.add(file);
    pending.push(...inner.lazy);
  }
  const lazyBytes = [...lazyFiles].reduce((sum, file) => sum + gz(file), 0);
  const over = initial > budget * 1024;
  failed ||= over;
  report[page] = { initialKb: +(initial / 1024).toFixed(1), budgetKb: budget, lazyKb: +(lazyBytes / 1024).toFixed(1) };
  console.log(
    `${over ? "OVER" : "ok  "} ${page.padEnd(22)} initial JS ${(initial / 1024).toFixed(1).padStart(6)} KB gz` +
      ` (budget ${budget} KB)   loaded later ${(lazyBytes / 1024).toFixed(1).padStart(6)} KB gz`,
  );
}
writeFileSync(join(DIST, "budgets.json"), JSON.stringify(report, null, 2));
if (failed) {
  console.error("a page is over its JavaScript budget (docs/benchmarks.md, web clients)");
  process.exit(1);
}
