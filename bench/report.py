#!/usr/bin/env python3
"""report.py - turn bench/run's raw results into the table, the JSON, the plot
and the README section.

Reads (from --results DIR): machine.txt, bench_*.json (Google Benchmark;
bench_fix.json holds the FIX rows against QuickFIX),
e2e.json (desk_e2e, with its journaled rows), desk_net_rtt.json (the order round trip over loopback
TCP next to raw TCP), strace/ (strace -ff logs of a marked desk_e2e run),
strace_summary.txt (strace -c).  Writes: results.json, table.md,
latency.dat, latency.gp, latency.png (when gnuplot is there), and replaces
the text between the results markers in --readme.

Every ratio is desk over its peer or baseline, from the same run: below 1
means desk takes less time.  Standard library only.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys

BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def gbench_rows(doc):
    """name -> {mean, p50, p99, p999, max, rate, error, reps} from one bench JSON.

    With --benchmark_repetitions each row ran several times, interleaved at
    random with the other rows (the host moves a VM's vCPUs, so the cost of
    a core-to-core hop drifts over a run; interleaving spreads that drift
    over every contender).  A figure is the median over the repetitions;
    max is the largest of them.
    """
    reps = {}
    if not doc:
        return {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        name = re.sub(r"/(real|manual)_time$", "", b.get("run_name", b["name"]))
        unit = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
        reps.setdefault(name, []).append({
            "mean": b.get("real_time", 0) * unit,
            "p50": b.get("p50_ns"),
            "p99": b.get("p99_ns"),
            "p999": b.get("p999_ns"),
            "max": b.get("max_ns"),
            "rate": b.get("items_per_second"),
            "error": b.get("error_message") if b.get("error_occurred") else None,
            "pinned": b.get("pinned"),
        })
    rows = {}
    for name, rs in reps.items():
        errs = [r["error"] for r in rs if r["error"]]
        rows[name] = {k: median([r[k] for r in rs]) for k in ("mean", "p50", "p99", "p999", "rate")}
        rows[name]["max"] = max((r["max"] for r in rs if r["max"] is not None), default=None)
        rows[name]["error"] = errs[0] if errs else None
        rows[name]["pinned"] = min((r["pinned"] for r in rs if r["pinned"] is not None),
                                   default=None)
        rows[name]["reps"] = len(rs)
    return rows


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def fmt_ns(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return "%.2f ms" % (v / 1e6)
    if v >= 1e4:
        return "%.1f us" % (v / 1e3)
    if v >= 100:
        return "%.0f" % v
    return "%.1f" % v


def fmt_rate(v):
    if not v:
        return "-"
    if v >= 1e6:
        return "%.1f M/s" % (v / 1e6)
    if v >= 1e3:
        return "%.0f k/s" % (v / 1e3)
    return "%.0f /s" % v


def fmt_ratio(v):
    return "-" if v is None else "%.2f" % v


class Table:
    def __init__(self, title, head):
        self.title, self.head, self.rows = title, head, []

    def add(self, *cells):
        self.rows.append([str(c) for c in cells])

    def md(self):
        out = ["**%s**" % self.title, "", "| " + " | ".join(self.head) + " |",
               "|" + "|".join(["---"] * len(self.head)) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(out) + "\n"


def machine(results):
    m = {}
    try:
        with open(os.path.join(results, "machine.txt")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                m[k] = v
    except OSError:
        pass
    return m


# ---- strace ---------------------------------------------------------------------

TS = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) (.*)$")


def strace_analysis(results):
    d = os.path.join(results, "strace")
    files = glob.glob(os.path.join(d, "e2e.*"))
    if not files:
        return None
    roles, pid = {}, None
    try:
        with open(os.path.join(d, "stderr.txt")) as f:
            for line in f:
                m = re.match(r"E2E_THREAD (\S+) tid=(\d+)", line)
                if m:
                    roles[int(m.group(2))] = m.group(1)
                    if m.group(1) == "strategy":
                        pid = int(m.group(2))
    except OSError:
        return None
    per = {}
    windows, open_at = [], {}
    for path in files:
        tid = int(path.rsplit(".", 1)[1])
        calls = []
        with open(path, errors="replace") as f:
            for line in f:
                m = TS.match(line)
                if not m:
                    continue
                t = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
                rest = m.group(4)
                if rest.startswith(("<...", "+++", "---")):
                    continue
                name = rest.split("(", 1)[0]
                calls.append((t, name, rest))
                if tid == pid:
                    mk = re.search(r'"E2E_MARK (begin|end) (\S+)\\n"', rest)
                    if mk and mk.group(1) == "begin":
                        open_at[mk.group(2)] = t
                    elif mk and mk.group(2) in open_at:
                        windows.append((mk.group(2), open_at.pop(mk.group(2)), t))
        per[tid] = calls
    threads = []
    for tid, calls in sorted(per.items()):
        inside = [c for c in calls if any(b < c[0] < e for _, b, e in windows)]
        names = sorted({c[1] for c in inside})
        threads.append({"tid": tid, "role": roles.get(tid, "other"), "total": len(calls),
                        "steady": len(inside), "steady_syscalls": names,
                        "windows_alive": [w for w, b, e in windows
                                          if calls and calls[0][0] < e and calls[-1][0] > b]})
    return {"windows": [{"row": w, "seconds": round(e - b, 3)} for w, b, e in windows],
            "threads": threads}


# ---- the write-ahead journal's cost ---------------------------------------------

JOURNAL_ROWS = ("submit_to_routed", "submit_to_venue_held", "submit_to_ack_seen_null",
                "submit_to_fill_seen_null", "submit_to_ack_seen_paper", "submit_to_fill_seen_paper")
# Ratios listed with the others: the router's own step, the command reaching
# the venue (the write-ahead wait), and the round trip through the paper venue.
JOURNAL_RATIO_ROWS = ("submit_to_routed", "submit_to_venue_held", "submit_to_fill_seen_paper")


def journal_table(e2e, by, ratios, errors):
    """The journaled e2e rows next to the unjournaled run of the same row.

    desk_e2e names a journaled row <row>_journal_<policy> and gives it
    "journal" (the fsync policy) and "base" (the unjournaled row's name).
    """
    jrows = [r for r in e2e.get("rows", []) if r.get("journal")]
    j = e2e.get("journal") or {}
    for run in j.get("runs", []):
        if not run.get("ok"):
            errors.append("desk_e2e journal %s (%s venue): journal check failed" % (
                run.get("fsync"), run.get("venue")))
    if not jrows:
        return None
    t = Table("Write-ahead journal cost (desk_e2e, same run): journaled / unjournaled; journal %s, "
              "idle %s, files on %s" % (j.get("thread", "?"), j.get("idle", "?"), j.get("fs", "?")),
              ["row", "fsync", "samples", "p50", "p99", "p99.9", "max",
               "journaled / unjournaled p50", "p99", "p99.9"])
    policies = []
    for r in jrows:
        if r["journal"] not in policies:
            policies.append(r["journal"])
    for base in JOURNAL_ROWS:
        b = by.get(base)
        group = [r for pol in policies for r in jrows if r["base"] == base and r["journal"] == pol]
        if not group:
            continue
        if b:
            t.add(base, "off (baseline)", b["samples"], fmt_ns(b["p50_ns"]), fmt_ns(b["p99_ns"]),
                  fmt_ns(b["p999_ns"]), fmt_ns(b["max_ns"]), "1", "1", "1")
        for r in group:
            q = {k: ratio(r[k], b and b[k]) for k in ("p50_ns", "p99_ns", "p999_ns", "mean_ns")}
            t.add(base, r["journal"], r["samples"], fmt_ns(r["p50_ns"]), fmt_ns(r["p99_ns"]),
                  fmt_ns(r["p999_ns"]), fmt_ns(r["max_ns"]), fmt_ratio(q["p50_ns"]),
                  fmt_ratio(q["p99_ns"]), fmt_ratio(q["p999_ns"]))
            if base in JOURNAL_RATIO_ROWS:
                ratios.append({"what": "e2e %s: journal fsync %s / no journal" % (base, r["journal"]),
                               "key": "p50", "ratio": q["p50_ns"], "ratio_mean": q["mean_ns"]})
    return t


# ---- main -----------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="bench/results")
    ap.add_argument("--readme", default=None)
    a = ap.parse_args()
    R = a.results

    mach = machine(R)
    ring = gbench_rows(load(os.path.join(R, "bench_ring.json")))
    guard = gbench_rows(load(os.path.join(R, "bench_guard.json")))
    fixed = gbench_rows(load(os.path.join(R, "bench_fixed.json")))
    js = gbench_rows(load(os.path.join(R, "bench_json.json")))
    fix_doc = load(os.path.join(R, "bench_fix.json"))
    fix = gbench_rows(fix_doc)
    e2e = load(os.path.join(R, "e2e.json"))
    net = load(os.path.join(R, "desk_net_rtt.json"))
    ctx = (load(os.path.join(R, "bench_ring.json")) or {}).get("context", {})
    st = strace_analysis(R)
    tables, ratios, errors = [], [], []

    def R_(what, a_, b_, key="p50"):
        r = {"what": what, "key": key,
             "ratio": ratio(a_.get(key) if a_ else None, b_.get(key) if b_ else None),
             "ratio_mean": ratio(a_.get("mean") if a_ else None, b_.get("mean") if b_ else None)}
        ratios.append(r)
        return r

    for rows in (ring, guard, fixed, js, fix):
        for n, r in rows.items():
            if r["error"]:
                errors.append("%s: %s" % (n, r["error"]))

    limit = ring.get("PingPong/cacheline")

    # Ring throughput.
    t = Table("SPSC ring throughput, 64-byte messages, producer CPU 0 -> consumer CPU 1 "
              "(time per message)",
              ["ring", "mean", "p50", "p99", "p99.9", "messages/s", "desk / this (mean)",
               "desk / this (p50)"])
    d = ring.get("Throughput/desk")
    for k in ("desk", "desk_batch32", "ck", "boost"):
        r = ring.get("Throughput/" + k)
        if not r:
            continue
        t.add(k, fmt_ns(r["mean"]), fmt_ns(r["p50"]), fmt_ns(r["p99"]), fmt_ns(r["p999"]),
              fmt_rate(r["rate"]),
              fmt_ratio(ratio(d and d["mean"], r["mean"])) if k not in ("desk",) else "1",
              fmt_ratio(ratio(d and d["p50"], r["p50"])) if k not in ("desk",) else "1")
        if k in ("ck", "boost"):
            R_("ring throughput: desk / " + k, d, r)
        if k == "desk_batch32":
            R_("ring throughput: desk batch32 / desk one-by-one", r, d)
    tables.append(t)

    # Ping-pong.
    t = Table("SPSC ring one-way latency (ping-pong RTT / 2), CPU 0 <-> CPU 1",
              ["ring", "mean", "p50", "p99", "p99.9", "max", "this / limit (p50)",
               "desk / this (p50)"])
    d = ring.get("PingPong/desk")
    for k in ("desk", "ck", "boost", "cacheline"):
        r = ring.get("PingPong/" + k)
        if not r:
            continue
        t.add(k + (" (the limit)" if k == "cacheline" else ""), fmt_ns(r["mean"]),
              fmt_ns(r["p50"]), fmt_ns(r["p99"]), fmt_ns(r["p999"]), fmt_ns(r["max"]),
              fmt_ratio(ratio(r["p50"], limit and limit["p50"])),
              fmt_ratio(ratio(d and d["p50"], r["p50"])))
        if k in ("ck", "boost", "cacheline"):
            R_("one-way latency: desk / " + (k if k != "cacheline" else "cache-line limit"), d, r)
    tables.append(t)

    # Guard.
    t = Table("Pre-trade guard, desk_guard_check (per check)",
              ["path", "mean", "p50", "p99", "p99.9", "checks/s", "vs", "ratio (p50)"])
    acc = guard.get("Guard/ACCEPT")
    if acc:
        t.add("ACCEPT (every check)", fmt_ns(acc["mean"]), fmt_ns(acc["p50"]), fmt_ns(acc["p99"]),
              fmt_ns(acc["p999"]), fmt_rate(acc["rate"]), "one core-to-core hop (limit p50)",
              fmt_ratio(ratio(acc["p50"], limit and limit["p50"])))
        R_("guard accept / one core-to-core hop (cache-line limit)", acc, limit)
    for n, r in sorted(guard.items(), key=lambda x: x[1]["mean"]):
        if n == "Guard/ACCEPT":
            continue
        t.add("reject " + n.split("/", 1)[1], fmt_ns(r["mean"]), fmt_ns(r["p50"]),
              fmt_ns(r["p99"]), fmt_ns(r["p999"]), fmt_rate(r["rate"]), "ACCEPT",
              fmt_ratio(ratio(r["p50"], acc and acc["p50"])))
    tables.append(t)

    # Fixed point.
    t = Table("Decimal string -> int64 at 1e-8 (per parse)",
              ["string", "desk_fixed_parse p50", "strtod+llround p50", "from_chars+llround p50",
               "desk / strtod", "desk / from_chars"])
    for s in ("61837.63000000", "0.00100000", "187.2500"):
        a_, b_, c_ = (fixed.get("Fixed/%s/%s" % (k, s)) for k in ("desk", "strtod", "from_chars"))
        if not a_:
            continue
        t.add('"%s"' % s, fmt_ns(a_["p50"]), fmt_ns(b_ and b_["p50"]), fmt_ns(c_ and c_["p50"]),
              fmt_ratio(ratio(a_["p50"], b_ and b_["p50"])),
              fmt_ratio(ratio(a_["p50"], c_ and c_["p50"])))
        R_('fixed parse "%s": desk / strtod' % s, a_, b_)
        R_('fixed parse "%s": desk / from_chars' % s, a_, c_)
    tables.append(t)

    # JSON.
    t = Table("Venue JSON -> plain struct with fixed-point fields (per message)",
              ["message", "desk shim p50", "cJSON p50", "simdjson one pass p50",
               "desk / cJSON", "desk / simdjson one pass", "desk p99", "desk p99.9"])
    for m in ("bookTicker", "executionReport", "trade_update"):
        a_, b_, c_ = (js.get("Json/%s/%s" % (k, m)) for k in ("desk", "cjson", "simdjson_onepass"))
        if not a_:
            continue
        t.add(m, fmt_ns(a_["p50"]), fmt_ns(b_ and b_["p50"]), fmt_ns(c_ and c_["p50"]),
              fmt_ratio(ratio(a_["p50"], b_ and b_["p50"])),
              fmt_ratio(ratio(a_["p50"], c_ and c_["p50"])), fmt_ns(a_["p99"]),
              fmt_ns(a_["p999"]))
        R_("json %s: desk shim / cJSON" % m, a_, b_)
        R_("json %s: desk shim / simdjson one pass" % m, a_, c_)
    tables.append(t)

    # FIX 4.4: desk's codec and session against QuickFIX 1.15.
    if fix:
        # desk's send row also records the p50 of its part before io_uring_enter.
        pre = median([b.get("p50_pre_submit_ns") for b in (fix_doc or {}).get("benchmarks", [])
                      if b.get("run_type", "iteration") == "iteration"
                      and b.get("run_name", b["name"]).startswith("Fix/desk/send_")])
        t = Table("FIX 4.4: desk vs QuickFIX 1.15 (per message; send rows: every order timed "
                  "alone, one in flight)",
                  ["operation", "QuickFIX variant", "desk p50", "QuickFIX p50", "desk / QuickFIX (p50)",
                   "desk / QuickFIX (mean)", "desk p99", "QuickFIX p99", "desk p99.9",
                   "QuickFIX p99.9"])
        for op, peers in (("encode_NewOrderSingle", (("quickfix", "toString"),)),
                          ("decode_ExecutionReport", (("quickfix", "no dictionary"),
                                                      ("quickfix_dict", "FIX44.xml validate"))),
                          ("send_NewOrderSingle", (("quickfix", "sendToTarget"),))):
            a_ = fix.get("Fix/desk/" + op)
            for k, label in peers:
                b_ = fix.get("Fix/%s/%s" % (k, op))
                if not a_ and not b_:
                    continue
                r = R_("fix %s: desk / QuickFIX %s" % (op, label), a_, b_)
                t.add(op, label, fmt_ns(a_ and a_["p50"]), fmt_ns(b_ and b_["p50"]),
                      fmt_ratio(r["ratio"]), fmt_ratio(r["ratio_mean"]),
                      fmt_ns(a_ and a_["p99"]), fmt_ns(b_ and b_["p99"]),
                      fmt_ns(a_ and a_["p999"]), fmt_ns(b_ and b_["p999"]))
        d_ = fix.get("Fix/desk/send_NewOrderSingle")
        if pre is not None and d_:
            d_["p50_pre_submit"] = pre
            t.add("send_NewOrderSingle, desk's part before io_uring_enter (clocks + "
                  "desk_fix_session_new)", "-", fmt_ns(pre), "-", "-", "-", "-", "-", "-", "-")
        tables.append(t)

    # End to end.
    if e2e:
        hops = {"submit_to_routed": 1, "submit_to_venue_held": 2, "submit_to_ack_seen_null": 4,
                "submit_to_fill_seen_null": 4, "submit_to_ack_seen_paper": 4,
                "submit_to_fill_seen_paper": 4}
        t = Table("End to end (desk_e2e): libdesk -> router (guard) -> venue -> back",
                  ["row", "samples", "p50", "p90", "p99", "p99.9", "p99.99", "max",
                   "core hops", "p50 / (hops x limit p50)"])
        by = {r["name"]: r for r in e2e.get("rows", [])}
        for r in e2e.get("rows", []):
            if r.get("journal"):
                continue  # the journaled rows have their own table below
            h = hops.get(r["name"])
            base = h * limit["p50"] if h and limit and limit.get("p50") else None
            t.add(r["name"], r["samples"], fmt_ns(r["p50_ns"]), fmt_ns(r["p90_ns"]),
                  fmt_ns(r["p99_ns"]), fmt_ns(r["p999_ns"]), fmt_ns(r["p9999_ns"]),
                  fmt_ns(r["max_ns"]), h or "-", fmt_ratio(ratio(r["p50_ns"], base)))
            if base:
                ratios.append({"what": "e2e %s / %d x one-way limit" % (r["name"], h),
                               "key": "p50", "ratio": ratio(r["p50_ns"], base),
                               "ratio_mean": None})
        tables.append(t)
        jt = journal_table(e2e, by, ratios, errors)
        if jt:
            tables.append(jt)
        p, n = by.get("submit_to_fill_seen_paper"), by.get("submit_to_fill_seen_null")
        if p and n:
            ratios.append({"what": "e2e round trip: paper venue / scripted null venue",
                           "key": "p50", "ratio": ratio(p["p50_ns"], n["p50_ns"]),
                           "ratio_mean": ratio(p["mean_ns"], n["mean_ns"])})
        tp = e2e.get("throughput", {})
        if tp.get("orders"):
            t = Table("Sustained throughput through the guard to the null venue",
                      ["seconds", "orders", "orders/s", "back-pressure (-EAGAIN)", "reached venue",
                       "answered", "zero loss", "ended by", "vs desk ring msgs/s"])
            dr = ring.get("Throughput/desk")
            rr = ratio(tp["orders_per_sec"], dr and dr["rate"])
            t.add("%.2f" % tp["seconds"], tp["orders"], fmt_rate(tp["orders_per_sec"]),
                  tp["backpressure_eagain"], tp["reached_venue"], tp["answered"],
                  "yes" if tp["zero_loss"] else "NO",
                  "the day's ClOrdIDs (3 x order_capacity %d) ran out" % tp["order_capacity"]
                  if tp.get("stopped_at_clordid_budget") else "time", fmt_ratio(rr))
            ratios.append({"what": "e2e orders/s / bare desk ring messages/s", "key": "rate",
                           "ratio": rr, "ratio_mean": None})
            tables.append(t)

    # The network row: desk's round trip through its fix connector and a raw
    # FIX responder over loopback TCP, next to raw TCP of the same bytes.
    if net and net.get("rows"):
        by = {r["name"]: r for r in net["rows"]}
        t = Table("Order round trip over loopback TCP (desk_net_rtt): desk + fix connector + raw "
                  "FIX responder vs raw TCP ping-pong, %s-byte 35=D out, %s-byte 35=8 back" % (
                      net.get("d_bytes", "?"), net.get("er_bytes", "?")),
                  ["row", "samples", "p50", "p90", "p99", "p99.9", "max",
                   "desk round trip / this (p50)"])
        d_ = by.get("desk_fix_round_trip")
        for r in net["rows"]:
            t.add(r["name"], r["samples"], fmt_ns(r["p50_ns"]), fmt_ns(r["p90_ns"]),
                  fmt_ns(r["p99_ns"]), fmt_ns(r["p999_ns"]), fmt_ns(r["max_ns"]),
                  fmt_ratio(ratio(d_ and d_["p50_ns"], r["p50_ns"]))
                  if r["name"].startswith("raw_") else "-")
        tables.append(t)
        for k, label in (("raw_tcp_same_thread", "raw TCP, same thread (CPU 0)"),
                         ("raw_tcp_cross_core", "raw TCP ping-pong CPU 0 <-> CPU 1")):
            b_ = by.get(k)
            if d_ and b_:
                ratios.append({"what": "network round trip: desk via fix / %s" % label,
                               "key": "p50", "ratio": ratio(d_["p50_ns"], b_["p50_ns"]),
                               "ratio_mean": ratio(d_["mean_ns"], b_["mean_ns"])})

    # Ratios, all in one place.
    rt = Table("Ratios (desk / peer or baseline, same run; < 1: desk takes less time)",
               ["comparison", "p50", "mean"])
    for r in ratios:
        rt.add(r["what"], fmt_ratio(r["ratio"]), fmt_ratio(r["ratio_mean"]))

    # Machine.
    noise = (e2e or {}).get("machine_noise", [])
    topo = (e2e or {}).get("topology", {})
    mlines = [
        "- CPU: %s; %s online CPUs (a VM: hypervisor %s), kernel %s, clocksource %s" % (
            mach.get("cpu_model", "?"), mach.get("online_cpus", "?"),
            mach.get("hypervisor") or "none", mach.get("kernel", "?"),
            mach.get("clocksource", "?")),
        "- pinned: microbenchmarks %s (pthread_setaffinity_np; with 2 CPUs a two-thread "
        "benchmark uses both); e2e strategy=%s router=%s venue=%s (%s)" % (
            ctx.get("pinned", "?"), topo.get("pinned_strategy", "?"),
            topo.get("pinned_router", "?"), topo.get("pinned_venue", "?"),
            topo.get("venue", "?")),
        "- load average before %s, after %s; run at %s; %s" % (
            mach.get("loadavg_before", "?"), mach.get("loadavg_after", "?"),
            mach.get("date", "?"), mach.get("compiler", "?")),
    ]
    for k, v in sorted(mach.items()):
        if k.startswith("partial_"):
            mlines.append("- %s rerun alone (bench/run --only) at %s; the other rows are from "
                          "the full run above" % (k[len("partial_"):], v))
    for n_ in noise:
        mlines.append("- machine noise on CPU %d: longest time a pinned spinning thread was "
                      "descheduled %s, %d gaps > 10 us and %d > 1 ms in %.1f s" % (
                          n_["cpu"], fmt_ns(n_["max_gap_ns"]), n_["gaps_over_10us"],
                          n_["gaps_over_1ms"], n_["seconds"]))
    if e2e:
        mlines.append("- paper venue: %s" % e2e.get("paper", "?"))
    j = (e2e or {}).get("journal") or {}
    if j.get("runs"):
        mlines.append("- write-ahead journal (e2e): %s, idle %s, files in a temporary directory on "
                      "%s; per run (venue/fsync: orders with warm-up, records, write(2)s, "
                      "fdatasync(2)s): " % (j.get("thread", "?"), j.get("idle", "?"),
                                            j.get("fs", "?")) +
                      "; ".join("%s/%s %d, %d, %d, %d" % (
                          x["venue"], x["fsync"], x["orders"] + x["warmup"], x["records"],
                          x["batches"], x["fsyncs"]) for x in j["runs"]))

    # strace.
    st_md = ""
    if st:
        s = Table("Syscalls per thread (strace -f -ff -tt, desk_e2e --marks)",
                  ["thread", "tid", "syscalls in measured loops", "which", "syscalls in all"])
        for th in st["threads"]:
            role = th["role"] + (" (%s)" % ", ".join(th["windows_alive"])
                                 if th["windows_alive"] else "")
            s.add(role, th["tid"], th["steady"], ", ".join(th["steady_syscalls"]) or "-",
                  th["total"])
        st_md = s.md() + "\nMeasured loops (E2E_MARK windows): " + ", ".join(
            "%s %.2f s" % (w["row"], w["seconds"]) for w in st["windows"]) + "\n"
    summ = ""
    try:
        with open(os.path.join(R, "strace_summary.txt")) as f:
            summ = f.read()
    except OSError:
        pass

    md = "\n".join(x.md() for x in tables) + "\n" + rt.md()
    if errors:
        md += "\n**Rows that failed their own check:** " + "; ".join(errors) + "\n"
    text = "**Machine**\n\n" + "\n".join(mlines) + "\n\n" + md
    if st_md:
        text += "\n" + st_md
    with open(os.path.join(R, "table.md"), "w") as f:
        f.write(text)
    print(text)
    if summ:
        print("strace -c -f (whole run, setup included):\n" + summ)

    # Plot data.
    series = []
    if e2e:
        for r in e2e.get("rows", []):
            # Of the journaled rows only the paper round trip, one line per policy.
            if r.get("journal") and r.get("base") != "submit_to_fill_seen_paper":
                continue
            series.append(("e2e " + r["name"], [(p, v) for p, v in r["percentiles"] if p < 100]))
    for r in (net or {}).get("rows", []):
        if r["name"] in ("desk_fix_round_trip", "raw_tcp_same_thread", "raw_tcp_cross_core"):
            series.append(("net " + r["name"], [(50, r["p50_ns"]), (90, r["p90_ns"]),
                                                (99, r["p99_ns"]), (99.9, r["p999_ns"])]))
    for k in ("desk", "ck", "boost", "cacheline"):
        r = ring.get("PingPong/" + k)
        if r and r["p50"]:
            series.append(("ring one-way " + k, [(50, r["p50"]), (99, r["p99"]),
                                                 (99.9, r["p999"])]))
    have_plot = False
    if series:
        with open(os.path.join(R, "latency.dat"), "w") as f:
            for title, pts in series:
                f.write("# %s\n" % title)
                for p, v in pts:
                    f.write("%.6f %s\n" % (1.0 / (1.0 - p / 100.0), v))
                f.write("\n\n")
        plots = ", ".join("'latency.dat' index %d with linespoints lw 2 dt %d title '%s'" % (
            i, 2 if t_.startswith("ring") else 1, t_) for i, (t_, _) in enumerate(series))
        gp = """set terminal pngcairo size 1200,700 noenhanced
set output 'latency.png'
set title "desk latency by percentile (%s, %s CPUs)"
set logscale xy
set xlabel 'percentile'
set ylabel 'latency'
set xtics ('50' 2, '90' 10, '99' 100, '99.9' 1000, '99.99' 10000, '99.999' 100000)
set ytics ('10 ns' 10, '100 ns' 100, '1 us' 1000, '10 us' 1e4, '100 us' 1e5, '1 ms' 1e6, '10 ms' 1e7, '100 ms' 1e8, '1 s' 1e9)
set grid
set key outside right
plot %s
""" % (mach.get("cpu_model", "?"), mach.get("online_cpus", "?"), plots)
        with open(os.path.join(R, "latency.gp"), "w") as f:
            f.write(gp)
        if shutil.which("gnuplot"):
            rc = subprocess.call(["gnuplot", "latency.gp"], cwd=R)
            if rc != 0:
                gp2 = gp.replace("pngcairo", "png")
                with open(os.path.join(R, "latency.gp"), "w") as f:
                    f.write(gp2)
                rc = subprocess.call(["gnuplot", "latency.gp"], cwd=R)
            have_plot = rc == 0

    with open(os.path.join(R, "results.json"), "w") as f:
        json.dump({"machine": mach, "context": ctx, "ring": ring, "guard": guard, "fixed": fixed,
                   "json": js, "fix": fix, "e2e": e2e, "net": net, "ratios": ratios, "strace": st, "errors": errors},
                  f, indent=1, sort_keys=True)

    if a.readme and os.path.exists(a.readme):
        with open(a.readme) as f:
            doc = f.read()
        if BEGIN in doc and END in doc:
            body = text
            if have_plot:
                body += "\n![latency by percentile](results/latency.png)\n"
            if summ:
                body += "\n`strace -c -f` over a whole short run (setup included):\n\n```\n" + \
                    summ.strip() + "\n```\n"
            head, rest = doc.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            with open(a.readme, "w") as f:
                f.write(head + BEGIN + "\n" + body + "\n" + END + tail)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
