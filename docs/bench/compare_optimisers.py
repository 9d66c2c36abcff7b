"""Side-by-side comparison of Spontan's batch optimiser with Python peers on the same instances.

Run through compare-optimisers.sh (it builds the Rust runner and prepares the virtual
environment). Instances come from `optimizer_bench generate`; every solver reads the same
files and every solution is scored here by the same code:

- single period (every slot window overlaps every other, one slot per volunteer): our exact
  solver against kwok (maximum-weight bipartite matching), scipy's
  min_weight_full_bipartite_matching (sparse LAPJV) and OR-Tools SimpleMinCostFlow, all given
  the same folded lexicographic profits (coverage, then travel, then load);
- several periods (windows over 72 hours, a volunteer may take slots that do not overlap):
  our solver against a HiGHS MIP that maximises weighted coverage under a time limit
  (reported with its dual bound and gap).

Times are the solver call only (best of --repeats for the fast solvers), not file reading or
building the peers' input structures (reported separately as "prep").
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


class Instance:
    def __init__(self, base):
        self.base = base
        self.meta = json.loads(Path(f"{base}.meta.json").read_text())
        slots = np.loadtxt(f"{base}.slots.csv", delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
        self.weight, self.start, self.end = slots[:, 0], slots[:, 1], slots[:, 2]
        edges = np.loadtxt(f"{base}.edges.csv", delimiter=",", skiprows=1, dtype=np.int64, ndmin=2)
        self.e_slot, self.e_vol, self.e_travel, self.e_hours = (edges[:, i] for i in range(4))
        self.n_slots = len(self.weight)
        self.n_vols = int(self.meta["volunteers"])
        c1 = int(self.meta["coverage_scale"])
        c2 = int(self.meta["travel_scale"])
        max_hours = int(self.meta["max_hours"])
        # The folded profit exactly as optimizer::Scales::profit computes it.
        self.profit = (
            self.weight[self.e_slot] * c1
            - np.minimum(self.e_travel * c2, c1 - 1)
            - np.clip(self.e_hours, 0, max_hours)
        )

    def score(self, chosen):
        """(feasible, assigned, covered weight, travel units, hours units) of edge indices."""
        chosen = np.asarray(chosen, dtype=np.int64)
        slots = self.e_slot[chosen]
        ok = len(np.unique(slots)) == len(slots)
        vols = self.e_vol[chosen]
        order = np.lexsort((self.start[slots], vols))
        v, s, e = vols[order], self.start[slots][order], self.end[slots][order]
        # Sorted by volunteer then start: an overlap shows as a start before the previous end
        # (windows of one volunteer must be disjoint, so the running maximum is the previous end).
        same = v[1:] == v[:-1]
        if np.any(same & (s[1:] < e[:-1])):
            ok = False
        return {
            "feasible": bool(ok),
            "assigned": int(len(chosen)),
            "covered": int(self.weight[slots].sum()),
            "travel": int(self.e_travel[chosen].sum()),
            "hours": int(self.e_hours[chosen].sum()),
        }


def best_of(repeats, fn):
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def peer_kwok(inst, repeats):
    import kwok

    t0 = time.perf_counter()
    # Left side = slots (|L| <= |R| is required), right side = volunteers.
    order = np.argsort(inst.e_slot, kind="stable")
    bounds = np.searchsorted(inst.e_slot[order], np.arange(inst.n_slots + 1))
    vols = inst.e_vol[order].tolist()
    # kwok takes whole-number weights into C ints (32 bits), too small for the folded profits;
    # a quarter of each profit is not whole, exact in a double (below 2**55) and has the same
    # optimum, so kwok runs its floating-point path.
    prof = (inst.profit[order].astype(np.float64) * 0.25).tolist()
    adj = [list(zip(vols[bounds[i]:bounds[i + 1]], prof[bounds[i]:bounds[i + 1]])) for i in range(inst.n_slots)]
    edge_of = {}
    for k, idx in enumerate(order.tolist()):
        edge_of[(int(inst.e_slot[idx]), vols[k])] = idx
    prep = time.perf_counter() - t0
    seconds, m = best_of(repeats, lambda: kwok.kwok(adj, keeps_virtual_matching=False))
    chosen = [edge_of[(s, r)] for s, r in enumerate(m.left_pairs) if r is not None and r >= 0 and (s, r) in edge_of]
    return seconds, prep, chosen, "float64 weights"


def peer_scipy(inst, repeats):
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    t0 = time.perf_counter()
    # Rows = slots; columns = volunteers, then one "stays open" column per slot. Every row is
    # matched, so adding 1 to every weight keeps the optimum and keeps the open edges nonzero.
    rows = np.concatenate([inst.e_slot, np.arange(inst.n_slots)])
    cols = np.concatenate([inst.e_vol, inst.n_vols + np.arange(inst.n_slots)])
    vals = np.concatenate([inst.profit.astype(np.float64) + 1.0, np.ones(inst.n_slots)])
    m = csr_matrix((vals, (rows, cols)), shape=(inst.n_slots, inst.n_vols + inst.n_slots))
    key = {(int(s), int(v)): i for i, (s, v) in enumerate(zip(inst.e_slot, inst.e_vol))}
    prep = time.perf_counter() - t0
    seconds, (r, c) = best_of(repeats, lambda: min_weight_full_bipartite_matching(m, maximize=True))
    chosen = [key[(int(a), int(b))] for a, b in zip(r, c) if b < inst.n_vols]
    return seconds, prep, chosen, "float64 weights"


def peer_ortools(inst, repeats, tiers=3):
    from ortools.graph.python import min_cost_flow

    t0 = time.perf_counter()
    profit = inst.profit
    note = ""
    if tiers == 2:
        c1 = int(inst.meta["slots"]) * int(inst.e_travel.max() + 1) + 1
        profit = inst.weight[inst.e_slot] * c1 - inst.e_travel
        note = "coverage+travel only (load tier overflows its cost range)"
    s, v = inst.n_slots, inst.n_vols
    sink = s + v
    tails = np.concatenate([inst.e_slot, s + np.arange(v), np.arange(s)])
    heads = np.concatenate([s + inst.e_vol, np.full(v, sink), np.full(s, sink)])
    caps = np.ones(len(tails), dtype=np.int64)
    costs = np.concatenate([-profit, np.zeros(v + s, dtype=np.int64)])
    prep = time.perf_counter() - t0

    def solve():
        f = min_cost_flow.SimpleMinCostFlow()
        f.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
        f.set_nodes_supplies(np.arange(s + v + 1), np.concatenate([np.ones(s, dtype=np.int64), np.zeros(v, dtype=np.int64), [-s]]))
        status = f.solve()
        return f, status

    seconds, (f, status) = best_of(repeats, solve)
    if status != f.OPTIMAL:
        if tiers == 3:
            return peer_ortools(inst, repeats, tiers=2)
        return seconds, prep, [], f"status {status}"
    flows = f.flows(np.arange(len(inst.e_slot)))
    chosen = np.nonzero(flows)[0]
    return seconds, prep, chosen, note


def peer_highs(inst, limit):
    import highspy
    from scipy.sparse import csr_matrix

    t0 = time.perf_counter()
    n = len(inst.e_slot)
    rows, cols = [], []
    # Each slot at most once.
    rows.append(inst.e_slot)
    cols.append(np.arange(n))
    r = inst.n_slots
    # Each volunteer at most once at any instant: one row per maximal clique of its slots'
    # windows (at a start instant, kept only if no window of the clique ends before the next
    # start, i.e. the clique is not contained in the next one).
    order = np.lexsort((inst.start[inst.e_slot], inst.e_vol))
    vol = inst.e_vol[order]
    st = inst.start[inst.e_slot][order]
    en = inst.end[inst.e_slot][order]
    idx = order
    bounds = np.flatnonzero(np.diff(vol)) + 1
    groups = np.split(np.arange(n), bounds)
    rr, cc = [], []
    for g in groups:
        if len(g) < 2:
            continue
        gs, ge, gi = st[g].tolist(), en[g].tolist(), idx[g].tolist()
        active = []
        for i in range(len(g)):
            active = [k for k in active if ge[k] > gs[i]]
            active.append(i)
            if i + 1 < len(g) and gs[i + 1] == gs[i]:
                continue  # the last slot starting at this instant closes the clique
            if len(active) < 2:
                continue
            if i + 1 < len(g) and min(ge[k] for k in active) > gs[i + 1]:
                continue  # contained in the next clique
            for k in active:
                rr.append(r)
                cc.append(gi[k])
            r += 1
    rows.append(np.asarray(rr, dtype=np.int64))
    cols.append(np.asarray(cc, dtype=np.int64))
    a = csr_matrix((np.ones(sum(len(x) for x in rows)), (np.concatenate(rows), np.concatenate(cols))), shape=(r, n)).tocsc()
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = r
    lp.col_cost_ = inst.weight[inst.e_slot].astype(np.float64)
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.ones(n)
    lp.row_lower_ = np.full(r, -highspy.kHighsInf)
    lp.row_upper_ = np.ones(r)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n
    lp.sense_ = highspy.ObjSense.kMaximize
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(limit))
    h.passModel(lp)
    prep = time.perf_counter() - t0
    t0 = time.perf_counter()
    h.run()
    seconds = time.perf_counter() - t0
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    x = np.asarray(h.getSolution().col_value) if info.primal_solution_status else np.zeros(n)
    chosen = np.flatnonzero(x > 0.5)
    note = f"{status}; bound {info.mip_dual_bound:.0f}, gap {100 * info.mip_gap:.2f}%; {r} rows"
    return seconds, prep, chosen, note, info.mip_dual_bound


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--families", default="uniform,skewed,scarce")
    ap.add_argument("--sizes", default="10000x4000,100000x10000")
    ap.add_argument("--mip-sizes", default="2000x800,10000x4000", help="sizes whose multi-period instances get the HiGHS MIP")
    ap.add_argument("--mip-limit", type=float, default=120.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    sizes = args.sizes.split(",")
    mip_sizes = set(args.mip_sizes.split(",")) if args.mip_sizes else set()
    all_sizes = sorted(set(sizes) | mip_sizes, key=lambda s: int(s.split("x")[0]))
    rows = []

    def add(inst, solver, seconds, prep, chosen, note="", ref=None):
        sc = inst.score(chosen)
        total = int(inst.weight.sum())
        row = {
            "instance": inst.meta["name"],
            "edges": inst.meta["edges"],
            "solver": solver,
            "seconds": seconds,
            "prep": prep,
            **sc,
            "coverage_pct": 100.0 * sc["covered"] / total if total else 100.0,
            "note": note,
        }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        return row

    for size in all_sizes:
        v, s = size.split("x")
        for fam in args.families.split(","):
            run_json([args.bin, "generate", args.work, fam, v, s, str(args.seed)])
            for mode in ("single", "multi"):
                if size not in sizes and not (mode == "multi" and size in mip_sizes):
                    continue
                base = f"{args.work}/{fam}-{v}x{s}-{mode}"
                inst = Instance(base)
                ours = run_json([args.bin, "solve", base, str(args.repeats)])[0]
                chosen = np.loadtxt(f"{base}.spontan.csv", skiprows=1, dtype=np.int64, ndmin=1)
                mine = add(inst, "spontan", ours["seconds"], 0.0, chosen, f"{ours['periods']} periods" if mode == "multi" else "exact")
                if mode == "single":
                    for name, fn in (("kwok", peer_kwok), ("scipy", peer_scipy), ("ortools-mcf", peer_ortools)):
                        sec, prep, ch, note = fn(inst, args.repeats)
                        add(inst, name, sec, prep, ch, note)
                elif size in mip_sizes:
                    sec, prep, ch, note, bound = peer_highs(inst, args.mip_limit)
                    row = add(inst, "highs-mip", sec, prep, ch, note)
                    mine["note"] += f"; {100.0 * mine['covered'] / max(row['covered'], 1):.2f}% of MIP coverage, {100.0 * mine['covered'] / max(bound, 1):.2f}% of its bound"
                    mine["mip_bound"] = bound

    head = f"| {'instance':<28} | {'edges':>9} | {'solver':<11} | {'time s':>8} | {'prep s':>7} | {'assigned':>8} | {'coverage %':>10} | {'travel km':>11} | {'hours':>7} | ok | note"
    print(head)
    print("|" + "|".join(["---"] * 10) + "|---")
    for r in rows:
        print(
            f"| {r['instance']:<28} | {r['edges']:>9} | {r['solver']:<11} | {r['seconds']:>8.4f} | {r['prep']:>7.2f} | {r['assigned']:>8} | {r['coverage_pct']:>10.3f} | {r['travel']/100:>11.1f} | {r['hours']:>7} | {'yes' if r['feasible'] else 'NO'} | {r['note']}"
        )
    Path(args.work, "results.json").write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
