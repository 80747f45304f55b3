#!/usr/bin/env python3
"""Aggregates benches/wrk/run.sh's raw runs: medians with min-max per case and server, ratios
ferry/peer; prints a Markdown table and writes the JSON."""
import argparse
import json
import statistics

CASES = {
    "hit-1k": "cache hit, 1 KiB",
    "hit-100k": "cache hit, 100 KiB",
    "https-hit-1k": "HTTPS cache hit, 1 KiB",
    "https-handshake": "TLS handshake per request (Connection: close), 1 KiB hit",
    "miss-1k": "cache miss, whole path, 1 KiB",
    "lb-1k": "load balancing, 2 targets, 1 KiB",
}

ap = argparse.ArgumentParser()
ap.add_argument("raw")
ap.add_argument("json")
ap.add_argument("--date")
ap.add_argument("--nproc", type=int)
ap.add_argument("--cpu")
ap.add_argument("--clk-tck", type=int, default=100)
ap.add_argument("--command")
ap.add_argument("--ferry")
a = ap.parse_args()

runs = []
with open(a.raw) as f:
    for line in f:
        case, server, rps, p50, p99, reqs, ticks, rss, errs, non2xx = line.rstrip("\n").split("\t")
        reqs = int(reqs)
        runs.append(dict(
            case=case, server=server, rps=float(rps), p50_us=float(p50), p99_us=float(p99),
            requests=reqs, cpu_ticks=int(ticks),
            cpu_us_per_req=int(ticks) / a.clk_tck * 1e6 / reqs if reqs else None,
            peak_rss_kib=int(rss), socket_errors=int(errs), non_2xx=int(non2xx)))


def summary(values):
    values = [v for v in values if v is not None]
    return dict(median=statistics.median(values), min=min(values), max=max(values))


results = []
order = []
for r in runs:
    k = (r["case"], r["server"])
    if k not in order:
        order.append(k)
for case, server in order:
    rs = [r for r in runs if r["case"] == case and r["server"] == server]
    results.append(dict(
        case=case, server=server, runs=len(rs),
        rps=summary([r["rps"] for r in rs]),
        p50_us=summary([r["p50_us"] for r in rs]),
        p99_us=summary([r["p99_us"] for r in rs]),
        cpu_us_per_req=summary([r["cpu_us_per_req"] for r in rs]),
        peak_rss_kib=max(r["peak_rss_kib"] for r in rs),
        socket_errors=sum(r["socket_errors"] for r in rs),
        non_2xx=sum(r["non_2xx"] for r in rs)))

for res in results:
    ferry = next((x for x in results if x["case"] == res["case"] and x["server"] == "ferry"), None)
    if ferry and res["server"] != "ferry":
        res["ferry_over_peer"] = dict(
            rps=ferry["rps"]["median"] / res["rps"]["median"],
            cpu_us_per_req=ferry["cpu_us_per_req"]["median"] / res["cpu_us_per_req"]["median"])

doc = dict(date=a.date, nproc=a.nproc, cpu_model=a.cpu, command=a.command, ferry=a.ferry,
           results=results, runs=runs)
with open(a.json, "w") as f:
    json.dump(doc, f, indent=2)


def mm(s, fmt):
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def k(v):
    return f"{v / 1000:.1f}k"


def us(v):
    return f"{v:.0f} µs" if v >= 100 else f"{v:.1f} µs"


def cpu(v):
    return f"{v:.1f} µs"


print(f"{a.date}, {a.nproc} × {a.cpu}, {a.ferry}: `{a.command}`")
print()
print("| case | server | req/s | p50 | p99 | CPU/req | peak RSS | ferry/peer req/s | ferry/peer CPU/req |")
print("|---|---|---|---|---|---|---|---|---|")
for res in results:
    ratio = res.get("ferry_over_peer")
    flags = ""
    if res["socket_errors"] or res["non_2xx"]:
        flags = f" ⚠ {res['socket_errors']} socket errors, {res['non_2xx']} non-2xx"
    print("| {} | {} | {} | {} | {} | {} | {:.1f} MiB | {} | {} |".format(
        CASES.get(res["case"], res["case"]), res["server"] + flags,
        mm(res["rps"], k), mm(res["p50_us"], us), mm(res["p99_us"], us),
        mm(res["cpu_us_per_req"], cpu), res["peak_rss_kib"] / 1024,
        f"{ratio['rps']:.2f}×" if ratio else "", f"{ratio['cpu_us_per_req']:.2f}×" if ratio else ""))
