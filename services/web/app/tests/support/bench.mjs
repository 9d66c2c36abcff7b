// Figures the browser tests measure (never assert), merged into docs/bench/web-budgets.json
// with the date and the machine, for docs/benchmarks.md.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const OUT = resolve(import.meta.dirname, "../../../../../docs/bench");

/** Merges `entry` into docs/bench/web-budgets.json. */
export function record(entry) {
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, "web-budgets.json");
  let current = {};
  try {
    current = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    // first run
  }
  writeFileSync(
    file,
    JSON.stringify({ ...current, ...entry, measuredAt: new Date().toISOString(), machine: machine() }, null, 2) + "\n",
  );
}

/** The `p`-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function machine() {
  const info = readFileSync("/proc/cpuinfo", "utf8");
  const model = info.match(/^model name\s*:\s*(.*)$/m)?.[1] ?? "unknown CPU";
  const cores = info.match(/^processor\s*:/gm)?.length ?? 0;
  return `${cores} cores, ${model}`;
}
