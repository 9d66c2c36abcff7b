#!/usr/bin/env python3
"""Registration surge runs with the CPU time of every process, per registration.

Run through docs/bench/surge.sh, which brings the suite up first. For each rate: snapshot the
CPU time (user + system, from /proc) of the three services, the broker and every PostgreSQL
process; run the load generator open loop; wait until every event is published and matching
has applied all of them; snapshot again. The difference divided by the registrations made is
where the time of one registration goes, end to end (commit, outbox, broker, matching).
"""

import json
import os
import subprocess
import sys
import time

STATE = os.environ["STATE"]
LOAD = os.environ["LOAD"]
PG = os.environ.get("PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
BASE = PG.rsplit("/", 1)[0]
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0


def processes():
    """Name -> pids: the services and broker by their pid files, PostgreSQL by command name."""
    named = {}
    for name in ["registration", "task", "matching", "broker"]:
        with open(f"{STATE}/run/{name}.pid") as f:
            named[name] = [int(f.read().strip())]
    named["postgresql"] = [
        int(p) for p in os.listdir("/proc") if p.isdigit() and comm(p) == "postgres"
    ]
    return named


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def snapshot():
    return {name: {p: cpu_seconds(p) for p in pids} for name, pids in processes().items()}


def spent(before, after):
    """CPU seconds per name between two snapshots (processes that came and went count from 0)."""
    out = {}
    for name, pids in after.items():
        out[name] = sum(t - before.get(name, {}).get(p, 0.0) for p, t in pids.items())
    return out


def psql(db, sql):
    return subprocess.run(
        ["psql", f"{BASE}/{db}", "-qAtc", sql], capture_output=True, text=True, check=True
    ).stdout.strip()


def drained(timeout=180):
    """Waits until the outbox is published and matching holds every registered volunteer."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pending = int(psql("spontan_registration", "SELECT count(*) FROM outbox WHERE published_at IS NULL"))
        registered = int(psql("spontan_registration", "SELECT count(*) FROM volunteers"))
        known = int(psql("spontan_matching", "SELECT count(*) FROM volunteers"))
        if pending == 0 and known >= registered:
            return True
        time.sleep(0.5)
    return False


def registered():
    return int(psql("spontan_registration", "SELECT count(*) FROM volunteers"))


def run(rate, duration, warmup):
    stored_before = registered()
    before = snapshot()
    started = time.time()
    usage_before = os.times()
    out = subprocess.run(
        [LOAD, "--rate", str(rate), "--duration", str(duration), "--warmup", str(warmup), "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    usage_after = os.times()
    ok = drained()
    drain = time.time() - started - duration - warmup
    after = snapshot()
    report = json.loads(out)
    op = next(o for o in report["operations"] if o["operation"] == "register")
    cpu = spent(before, after)
    cpu["load generator"] = (usage_after.children_user - usage_before.children_user) + (
        usage_after.children_system - usage_before.children_system
    )
    made = max(registered() - stored_before, 1)  # warm-up registrations too, refused ones not
    return report, op, cpu, made, drain, ok


def main():
    duration = int(os.environ.get("DURATION", "20"))
    warmup = int(os.environ.get("WARMUP", "3"))
    rates = [float(r) for r in sys.argv[1:]] or [500, 1000, 2000]
    rows = []
    for rate in rates:
        report, op, cpu, made, drain, ok = run(rate, duration, warmup)
        rows.append((rate, op, cpu, made, drain, ok))
        print(f"# {rate:.0f}/s: p99 {op['p99_ms']:.1f} ms, drained {ok} after {drain:.1f} s", file=sys.stderr)
    print("| target | achieved | p50 | p90 | p99 | p99.9 | errors | drain after load |")
    print("|---:|---:|---:|---:|---:|---:|---|---:|")
    for rate, op, cpu, made, drain, ok in rows:
        errors = ", ".join(f"{k} {v}" for k, v in op["errors"].items()) or "none"
        print(
            f"| {rate:.0f}/s | {op['achieved_per_second']:.1f}/s | {op['p50_ms']:.1f} ms "
            f"| {op['p90_ms']:.1f} ms | {op['p99_ms']:.1f} ms | {op['p999_ms']:.1f} ms | {errors} "
            f"| {drain:.1f} s{'' if ok else ' (not drained)'} |"
        )
    names = ["registration", "postgresql", "broker", "matching", "task", "load generator"]
    print()
    print("CPU time per registration (µs), from submit to consumed by matching (idle work")
    print("during the run and the drain, such as the broker's empty fetches, counts too):")
    print()
    print("| target | " + " | ".join(names) + " | total |")
    print("|---:|" + "---:|" * (len(names) + 1))
    for rate, op, cpu, made, drain, ok in rows:
        per = {n: cpu.get(n, 0.0) / made * 1e6 for n in names}
        total = sum(per.values())
        print(
            f"| {rate:.0f}/s | " + " | ".join(f"{per[n]:.0f}" for n in names)
            + f" | {total:.0f} |"
        )


if __name__ == "__main__":
    main()
