#!/usr/bin/env python3
"""Turns one run of tests/bench/run-suite into results.json and results.md:
every figure beside its goal (DESIGN §9, issues #9 and #19), as ratios from
one run. `table.py --noise DIR ROUND` tells run-suite whether a round of the
compared runs was noise (see `noise`), so that it runs the round again.

A goal is "met" or "missed" only when every round was believable; a round
that stayed noise after its reruns is shown, and the goals it feeds are not
judged."""
import json
import re
import statistics
import sys
from pathlib import Path



def noise(runs, suffix):
    """Why the compared runs ending in `suffix` cannot be true, or None.

    A proxy cannot take latency away, so a negative added p50 or p99 is the
    machine's noise; so is a direct p99 many times its p50 while the proxied
    runs of the same round are not (a stall fell on the direct run alone)."""
    at = {via: runs.get(f"entitlement-{via}-rate{suffix}") for via in ("billing", "gateway", "nginx")}
    if not all(at.values()):
        return None
    direct = at["billing"]["latency"]
    for via in ("gateway", "nginx"):
        for q in ("p50_ms", "p99_ms"):
            if at[via]["latency"][q] < direct[q]:
                return f"{via} {q[:-3]} {at[via]['latency'][q]:.3f} ms below direct {direct[q]:.3f} ms"
    spread = direct["p99_ms"] / max(direct["p50_ms"], 1e-9)
    proxied = max(at[v]["latency"]["p99_ms"] / max(at[v]["latency"]["p50_ms"], 1e-9) for v in ("gateway", "nginx"))
    if spread > 5 and spread > 2 * proxied:
        return f"direct p99 {spread:.1f}× its p50 while the proxied runs' are at most {proxied:.1f}×"
    return None


if len(sys.argv) == 4 and sys.argv[1] == "--noise":
    # run-suite asks after each round: exit 1 (and say why) when it was noise.
    out, suffix = Path(sys.argv[2]), f"-r{sys.argv[3]}"
    found = {p.stem: json.loads(p.read_text()) for p in out.glob(f"*{suffix}.json")}
    why = noise(found, suffix)
    if why:
        print(why)
    sys.exit(1 if why else 0)

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


# The compared runs (echo / direct / gateway / nginx) ran in rounds, A B C A
# B C, so that the machine's drift falls on every side (run-suite). Each
# figure is the median over the rounds (of three, one busy round does not
# decide it; of two, the mean), each round's own value beside it.
ROUNDS = sorted({int(m.group(1)) for name in runs if (m := re.search(r"-r(\d+)$", name))})


def per_round(fn):
    return [fn(f"-r{n}") for n in ROUNDS]


def central(values):
    return statistics.median(values)


def shown(values, fmt):
    each = ", ".join(format(v, fmt) for v in values)
    return format(central(values), fmt) + (f" (rounds {each})" if len(values) > 1 else "")


noisy = {n: why for n in ROUNDS if (why := noise(runs, f"-r{n}"))}
judged = not noisy


def goal_met(ok):
    """The verdict on a goal; "noise" (not judged) when a round stayed noise after its reruns."""
    return ok if judged else "noise"


echo = per_round(lambda r: rate(f"echo-flat{r}"))
direct = per_round(lambda r: rate(f"entitlement-billing-flat{r}"))
row("bare tonic echo, flat out", shown(echo, ",.0f") + "/s")
row("CheckEntitlement direct, flat out", shown(direct, ",.0f") + "/s")
ratio = [d / e for d, e in zip(direct, echo)]
row("  ÷ echo", shown(ratio, ".2f"), "≥ 0.80", goal_met(central(ratio) >= 0.8))


def added(via, q):
    return per_round(lambda r: lat(f"entitlement-{via}-rate{r}", q) - lat(f"entitlement-billing-rate{r}", q))


mode = runs[f"entitlement-gateway-rate-r{ROUNDS[0]}"]["settings"]["mode"]
for q in ("p50_ms", "p99_ms"):
    gw_added, ngx_added = added("gateway", q), added("nginx", q)
    latencies = ", ".join(
        f"{via} {shown(per_round(lambda r, via=via: lat(f'entitlement-{via}-rate{r}', q)), '.3f')}"
        for via in ("billing", "gateway", "nginx")
    )
    if q == "p50_ms":
        goal, ok = "≤ nginx's + 0.05 ms", central(gw_added) <= central(ngx_added) + 0.05
    else:
        goal, ok = "≤ 1.0 ms", central(gw_added) <= 1.0
    row(f"gateway adds at {mode}, {q[:-3]}",
        f"{shown(gw_added, '+.3f')} ms; nginx adds {shown(ngx_added, '+.3f')} ms ({latencies})",
        goal, goal_met(ok))
for n, why in noisy.items():
    row(f"  round {n} was noise, even after its reruns", why)

gw = per_round(lambda r: rate(f"entitlement-gateway-flat{r}"))
ngx = per_round(lambda r: rate(f"entitlement-nginx-flat{r}"))
row("flat out through the gateway", f"{shown(gw, ',.0f')}/s ({central(gw) / central(direct):.2f} of direct)")
row("flat out through nginx grpc_pass", f"{shown(ngx, ',.0f')}/s ({central(ngx) / central(direct):.2f} of direct)")
row("  gateway ÷ nginx, throughput", shown([g / n for g, n in zip(gw, ngx)], ".2f"), "≥ 1.00",
    goal_met(central(gw) / central(ngx) >= 1.0))
gw_cpu = per_round(lambda r: cpu_per_1000(f"entitlement-gateway-flat{r}", "gateway"))
ngx_cpu = per_round(lambda r: cpu_per_1000(f"entitlement-nginx-flat{r}", "nginx"))
row("  CPU per 1,000 calls, gateway vs nginx workers",
    f"{shown(gw_cpu, '.0f')} ms vs {shown(ngx_cpu, '.0f')} ms ({central(gw_cpu) / max(central(ngx_cpu), 1e-9):.2f})",
    "gateway ≤ nginx", goal_met(central(gw_cpu) <= central(ngx_cpu)))
cj = rate("entitlement-connect-flat")
row("flat out as Connect JSON over HTTP/1.1 through the gateway",
    f"{cj:,.0f}/s ({cj / central(gw):.2f} of gRPC through the gateway), "
    f"gateway CPU per 1,000 calls {cpu_per_1000('entitlement-connect-flat', 'gateway'):.0f} ms")
row(f"Connect JSON at {runs['entitlement-connect-rate']['settings']['mode']}",
    f"p50 {lat('entitlement-connect-rate', 'p50_ms'):.3f} ms, p99 {lat('entitlement-connect-rate', 'p99_ms'):.3f} ms "
    f"(gRPC through the gateway p50 {central(per_round(lambda r: lat(f'entitlement-gateway-rate{r}', 'p50_ms'))):.3f}, "
    f"p99 {central(per_round(lambda r: lat(f'entitlement-gateway-rate{r}', 'p99_ms'))):.3f})")
gw_all = central(gw_cpu) + central(per_round(lambda r: cpu_per_1000(f"entitlement-gateway-flat{r}", "billing")))
ngx_all = central(ngx_cpu) + central(per_round(lambda r: cpu_per_1000(f"entitlement-nginx-flat{r}", "billing")))
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

mark = {True: "met", False: "**missed**", None: "", "noise": "not judged: noise"}
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
