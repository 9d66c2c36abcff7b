#!/usr/bin/env python3
"""Where an event's time goes, hop by hop, from the services' own histograms.

    docs/bench/hops.py snapshot > before.json     # before a run
    ... run the load (spontan-load --mode e2e-task ...)
    docs/bench/hops.py diff before.json           # the run's share of each histogram

Scrapes the local suite's /metrics (deploy/local/up.sh ports) and prints, per service and
series, the count, mean and bucket-interpolated p50/p90/p99 of what happened between the
snapshot and now, for the hops of an event:

- outbox_publish_delay_seconds: the writing transaction to the broker's acknowledgement;
- kafka_consume_delay_seconds: the record's producer timestamp to the consumer receiving it;
- kafka_handle_duration_seconds: the consumer's handler (matching: matching the task).

Quantiles are as good as the buckets (platform/src/telemetry.rs: 0.5, 1, 2.5, 5, 10, 25, 50,
100, 250, 500 ms ...): read them as "below the next bucket", the mean is exact.
"""

import json
import re
import sys
import urllib.request

ENDPOINTS = {
    "registration": "http://127.0.0.1:9101/metrics",
    "task": "http://127.0.0.1:9102/metrics",
    "matching": "http://127.0.0.1:9103/metrics",
}
HISTOGRAMS = (
    "outbox_publish_delay_seconds",
    "kafka_consume_delay_seconds",
    "kafka_handle_duration_seconds",
)
LINE = re.compile(r'^([a-z_]+)(?:\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape():
    """{service: {(histogram, labels-without-le): {"buckets": {le: n}, "sum": s, "count": c}}}"""
    out = {}
    for service, url in ENDPOINTS.items():
        series = {}
        try:
            body = urllib.request.urlopen(url, timeout=5).read().decode()
        except OSError as error:
            print(f"{service}: {error}", file=sys.stderr)
            continue
        for line in body.splitlines():
            m = LINE.match(line)
            if not m:
                continue
            name, labels, value = m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))
            for histogram in HISTOGRAMS:
                if not name.startswith(histogram + "_"):
                    continue
                part = name[len(histogram) + 1:]
                le = labels.pop("le", None)
                key = histogram + json.dumps(labels, sort_keys=True)
                entry = series.setdefault(key, {"buckets": {}, "sum": 0.0, "count": 0.0})
                if part == "bucket" and le is not None:
                    entry["buckets"][le] = value
                elif part in ("sum", "count"):
                    entry[part] = value
        out[service] = series
    return out


def quantile(buckets, count, q):
    """Linear interpolation inside the bucket that holds the q-th observation."""
    if count <= 0:
        return float("nan")
    rank, lower, below = q * count, 0.0, 0.0
    for le, cumulative in sorted(((float(k), v) for k, v in buckets.items())):
        if cumulative >= rank:
            if le == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (le - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = le, cumulative
    return lower


def diff(before, after):
    print("| service | series | count | mean | p50 | p90 | p99 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for service, series in after.items():
        for key, now in sorted(series.items()):
            then = before.get(service, {}).get(key, {"buckets": {}, "sum": 0.0, "count": 0.0})
            count = now["count"] - then["count"]
            if count <= 0:
                continue
            buckets = {le: n - then["buckets"].get(le, 0.0) for le, n in now["buckets"].items()}
            mean = (now["sum"] - then["sum"]) / count
            ms = lambda s: f"{s * 1000:.1f} ms"
            print(
                f"| {service} | `{key}` | {count:.0f} | {ms(mean)} | "
                f"{ms(quantile(buckets, count, 0.5))} | {ms(quantile(buckets, count, 0.9))} | "
                f"{ms(quantile(buckets, count, 0.99))} |"
            )


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "snapshot":
        json.dump(scrape(), sys.stdout)
    elif len(sys.argv) >= 3 and sys.argv[1] == "diff":
        with open(sys.argv[2]) as f:
            diff(json.load(f), scrape())
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
