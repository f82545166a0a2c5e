#!/usr/bin/env python3
"""Turns one run of tests/bench/run-suite into results.json and results.md:
every figure beside its goal (DESIGN §9, issue #9), as ratios from one run."""
import json
import re
import sys
from pathlib import Path

out = Path(sys.argv[1])
runs = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))
        if p.stem not in ("results", "machine", "idle-rss-kb")}
machine = json.loads((out / "machine.json").read_text())
idle_kb = json.loads((out / "idle-rss-kb.json").read_text())
pgbench = (out / "pgbench.txt").read_text()
tps_match = re.search(r"^tps = ([0-9.]+)", pgbench, re.M)
pgbench_tps = float(tps_match.group(1)) if tps_match else 0.0


def rate(name):
    return runs[name]["rate_per_second"]


def lat(name, q):
    return runs[name]["latency"][q]


def cpu_per_1000(name, prefix):
    return sum(p["cpu_ms_per_1000_calls"] for p in runs[name]["processes"] if p["name"].startswith(prefix))


def errors(name):
    return sum(runs[name]["errors"].values())


rows = []  # (figure, value, goal, met or None)


def row(figure, value, goal="", met=None):
    rows.append({"figure": figure, "value": value, "goal": goal, "met": met})


echo = rate("echo-flat")
direct = rate("entitlement-billing-flat")
row("bare tonic echo, flat out", f"{echo:,.0f}/s")
row("CheckEntitlement direct, flat out", f"{direct:,.0f}/s")
row("  ÷ echo", f"{direct / echo:.2f}", "≥ 0.50", direct / echo >= 0.5)

for q, goal in (("p50_ms", 0.3), ("p99_ms", 2.0)):
    added = lat("entitlement-gateway-rate", q) - lat("entitlement-billing-rate", q)
    row(f"gateway adds at {runs['entitlement-gateway-rate']['settings']['mode']}, {q[:-3]}",
        f"{added:+.3f} ms (direct {lat('entitlement-billing-rate', q):.3f}, "
        f"gateway {lat('entitlement-gateway-rate', q):.3f}, nginx {lat('entitlement-nginx-rate', q):.3f})",
        f"≤ {goal} ms", added <= goal)

gw, ngx = rate("entitlement-gateway-flat"), rate("entitlement-nginx-flat")
row("flat out through the gateway", f"{gw:,.0f}/s ({gw / direct:.2f} of direct)")
row("flat out through nginx grpc_pass", f"{ngx:,.0f}/s ({ngx / direct:.2f} of direct)")
row("  gateway ÷ nginx, throughput", f"{gw / ngx:.2f}", "≥ 1.00", gw / ngx >= 1.0)
gw_cpu = cpu_per_1000("entitlement-gateway-flat", "gateway")
ngx_cpu = cpu_per_1000("entitlement-nginx-flat", "nginx")
row("  CPU per 1,000 calls, gateway vs nginx workers",
    f"{gw_cpu:.0f} ms vs {ngx_cpu:.0f} ms ({gw_cpu / max(ngx_cpu, 1e-9):.2f})", "gateway ≤ nginx", gw_cpu <= ngx_cpu)
cj = rate("entitlement-connect-flat")
row("flat out as Connect JSON over HTTP/1.1 through the gateway",
    f"{cj:,.0f}/s ({cj / gw:.2f} of gRPC through the gateway), "
    f"gateway CPU per 1,000 calls {cpu_per_1000('entitlement-connect-flat', 'gateway'):.0f} ms")
row(f"Connect JSON at {runs['entitlement-connect-rate']['settings']['mode']}",
    f"p50 {lat('entitlement-connect-rate', 'p50_ms'):.3f} ms, p99 {lat('entitlement-connect-rate', 'p99_ms'):.3f} ms "
    f"(gRPC through the gateway p50 {lat('entitlement-gateway-rate', 'p50_ms'):.3f}, "
    f"p99 {lat('entitlement-gateway-rate', 'p99_ms'):.3f})")
gw_all = gw_cpu + cpu_per_1000("entitlement-gateway-flat", "billing")
ngx_all = ngx_cpu + cpu_per_1000("entitlement-nginx-flat", "billing")
row("  CPU per 1,000 calls, proxy + billing behind it, gateway vs nginx",
    f"{gw_all:.0f} ms vs {ngx_all:.0f} ms ({gw_all / max(ngx_all, 1e-9):.2f})")

for backend in ("sqlite", "postgres"):
    d = runs[f"distribute-{backend}"]
    row(f"distribution, {d['settings'].get('leads', '?')} leads to {d['settings'].get('reps', '?')} reps, {backend}",
        f"{d['seconds']:.2f} s", "≤ 2 s", d["seconds"] <= 2)
for backend in ("sqlite", "postgres"):
    c, r = f"claim-{backend}", f"claim-{backend}-rate"
    row(f"self-claims flat out, {runs[c]['settings'].get('concurrency', '?')} in flight over "
        f"{runs[c]['settings'].get('reps', '?')} reps, {backend}",
        f"{rate(c):,.0f}/s, p99 {lat(c, 'p99_ms'):.1f} ms, errors {errors(c)}")
    row(f"self-claims at {runs[r]['settings'].get('rate', '?')}, reps taking turns, {backend}",
        f"achieved {rate(r):,.0f}/s, p50 {lat(r, 'p50_ms'):.1f} ms, p99 {lat(r, 'p99_ms'):.1f} ms, errors {errors(r)}",
        "p99 ≤ 50 ms", lat(r, "p99_ms") <= 50 and errors(r) == 0)
claim_ratio = rate("claim-postgres") / max(pgbench_tps, 1e-9)
row("  flat-out claims on PostgreSQL ÷ pgbench simple-update TPS, same cluster",
    f"{rate('claim-postgres'):,.0f} ÷ {pgbench_tps:,.0f} = {claim_ratio:.2f}", "≥ 0.50", claim_ratio >= 0.5)
for backend in ("sqlite", "postgres"):
    e = runs[f"enroll-{backend}"]
    row(f"enrolment storm, {e['settings'].get('learners', '?')} requests into {e['settings'].get('seats', '?')} seats, {backend}",
        f"{e['seconds']:.2f} s", "≤ 3 s", e["seconds"] <= 3)

for svc in ("leads", "billing", "training", "gateway"):
    mb = idle_kb[svc] / 1024
    row(f"idle resident memory, {svc}", f"{mb:.1f} MB", "≤ 30 MB", mb <= 30)
mixed = runs["mixed-gateway"]
row("mixed load through the gateway", f"{mixed['rate_per_second']:,.0f}/s, p99 {mixed['latency']['p99_ms']:.1f} ms, "
    f"errors {errors('mixed-gateway')} of {mixed['ok'] + errors('mixed-gateway')}")
for p in mixed["processes"]:
    row(f"  under mixed load, {p['name']}", f"rss {p['rss_mb_after']:.1f} MB (peak {p['peak_rss_mb']:.1f}), "
        f"cpu {p['cpu_ms_per_1000_calls']:.0f} ms per 1,000 calls")

all_errors = {name: r["errors"] for name, r in runs.items() if r["errors"]}
result = {"machine": machine, "pgbench_tps": pgbench_tps, "idle_rss_kb": idle_kb, "rows": rows,
          "errors": all_errors, "runs": runs}
(out / "results.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")

mark = {True: "met", False: "**missed**", None: ""}
lines = ["| figure | value | goal | |", "|---|---|---|---|"]
lines += [f"| {r['figure']} | {r['value']} | {r['goal']} | {mark[r['met']]} |" for r in rows]
lines += ["", f"Machine: {machine['cpus']} × {machine['cpu_model']}, Linux {machine['kernel']}; "
          f"{machine['tiejun']}, {machine['rustc']}; nginx {machine['nginx']}; {machine['postgres']}.",
          f"CPU affinity: {machine['affinity']}.", f"Settings: {machine['settings']}.",
          f"pgbench -b simple-update -c 8 -j 2: {pgbench_tps:,.0f} TPS."]
if all_errors:
    lines.append(f"Errors by run and code: {json.dumps(all_errors, ensure_ascii=False)}.")
(out / "results.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
