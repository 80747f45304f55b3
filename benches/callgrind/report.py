#!/usr/bin/env python3
"""Reports benches/callgrind/run.sh's counts: instructions per request per case against the
committed baseline; prints a Markdown table (and a REGRESSION line per case more than --threshold
percent above its baseline), writes the JSON, and with --update-baseline rewrites the baseline.
A regression is reported, never an error: the exit status is 0 unless the input is unreadable."""
import argparse
import json
import os
import sys

CASES = {
    "edge-hit-1k": "edge cache hit, 1 KiB (warm cache)",
    "edge-miss-path": "edge (CachingDisabled) -> balancer -> origin, 1 KiB, one process",
    "balancer-1k": "balancer, round robin over 2 targets, 1 KiB",
}

ap = argparse.ArgumentParser()
ap.add_argument("raw")
ap.add_argument("json")
ap.add_argument("--baseline", required=True)
ap.add_argument("--update-baseline", action="store_true")
ap.add_argument("--threshold", type=float, default=3.0)
ap.add_argument("--date")
ap.add_argument("--ferry")
ap.add_argument("--valgrind")
ap.add_argument("--cpu")
ap.add_argument("--command")
ap.add_argument("--tunables", default="")
a = ap.parse_args()

rows = []
with open(a.raw) as f:
    for line in f:
        case, requests, warmup, ir, seconds, dumps = line.rstrip("\n").split("\t")
        requests, ir = int(requests), int(ir)
        rows.append(dict(case=case, description=CASES.get(case, case), requests=requests,
                         warmup=int(warmup), instructions=ir,
                         instructions_per_request=round(ir / requests, 1),
                         measured_seconds=float(seconds), dump_files=int(dumps)))

baseline = {}
if os.path.exists(a.baseline):
    with open(a.baseline) as f:
        baseline = json.load(f)
base_cases = baseline.get("cases", {})

regressions = []
for r in rows:
    b = base_cases.get(r["case"], {}).get("instructions_per_request")
    r["baseline_instructions_per_request"] = b
    r["change_pct"] = round((r["instructions_per_request"] / b - 1) * 100, 2) if b else None
    r["regression"] = r["change_pct"] is not None and r["change_pct"] > a.threshold
    if r["regression"]:
        regressions.append(r)

print()
print("| case | what | requests | instructions/request | baseline | change |")
print("|---|---|---:|---:|---:|---:|")
for r in rows:
    b = r["baseline_instructions_per_request"]
    change = "n/a" if r["change_pct"] is None else f"{r['change_pct']:+.2f}%"
    b = "-" if b is None else f"{b:,.0f}"
    print(f"| {r['case']} | {r['description']} | {r['requests']} | "
          f"{r['instructions_per_request']:,.0f} | {b} | {change} |")
print()
if base_cases:
    print(f"baseline: {a.baseline} ({baseline.get('date', '?')}, {baseline.get('ferry', '?')}, "
          f"{baseline.get('valgrind', '?')})")
    then = baseline.get("glibc_tunables", "")
    if then != a.tunables:
        print(f"note: the baseline was measured with GLIBC_TUNABLES={then!r}, this run with "
              f"{a.tunables!r}: the changes compare different glibc settings")
elif not a.update_baseline:
    print(f"no baseline yet ({a.baseline}): run with --update-baseline to write it")
for r in regressions:
    print(f"REGRESSION: {r['case']}: {r['instructions_per_request']:,.0f} instructions/request,"
          f" {r['change_pct']:+.2f}% over the baseline's"
          f" {r['baseline_instructions_per_request']:,.0f} (threshold {a.threshold:g}%)")

meta = dict(date=a.date, ferry=a.ferry, valgrind=a.valgrind, cpu=a.cpu, command=a.command,
            glibc_tunables=a.tunables)
out = dict(meta, threshold_pct=a.threshold, baseline=a.baseline, cases=rows,
           regressions=[r["case"] for r in regressions])
os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
with open(a.json, "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")

if a.update_baseline:
    new = dict(
        note="Instructions per request (callgrind Ir over the measured requests / their number) "
             "of benches/callgrind/run.sh. They depend on the compiler, the libc, valgrind's "
             "version and GLIBC_TUNABLES as well as on ferry: compare runs on the same "
             "toolchain, and rewrite this file with `benches/callgrind/run.sh "
             "--update-baseline` when those change.",
        date=a.date, ferry=a.ferry, valgrind=a.valgrind, glibc_tunables=a.tunables,
        cases={r["case"]: dict(requests=r["requests"],
                               instructions_per_request=r["instructions_per_request"])
               for r in rows})
    # Cases not run this time keep their old baseline.
    for case, v in base_cases.items():
        new["cases"].setdefault(case, v)
    with open(a.baseline, "w") as f:
        json.dump(new, f, indent=2)
        f.write("\n")
    print(f"baseline written: {a.baseline}")
sys.exit(0)
