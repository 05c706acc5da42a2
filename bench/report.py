#!/usr/bin/env python3
"""bench/report.py RESULTS_TSV: print the benchmark table (markdown) from the
key<TAB>value lines that bench/run.sh collected.  Exit 0; run.sh decides the
exit status (correctness), the table says which goals are met."""
import statistics
import sys

vals = {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        continue
    k, v = line.split("\t", 1)
    vals[k] = v


def rounds(fig, side):
    out = []
    i = 1
    pre = "%s.%s." % (fig, side) if side else fig + "."
    while "%s%d" % (pre, i) in vals:
        out.append(float(vals["%s%d" % (pre, i)]))
        i += 1
    return out


def fmt(x):
    if x >= 1000:
        return "{:,.0f}".format(x)
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    return "%.2f" % x


rows = []


def ratio_row(fig, title, unit, goal_text, higher_better, goal):
    c, b = rounds(fig, "c"), rounds(fig, "b")
    if not c or not b:
        rows.append([fig[1:], title, "not run", "not run", "", "", goal_text, "n/a"])
        return
    mc, mb = statistics.median(c), statistics.median(b)
    ratio = mc / mb if higher_better else mb / mc
    rows.append([fig[1:], title,
                 " / ".join(fmt(x) for x in c) + " " + unit,
                 " / ".join(fmt(x) for x in b) + " " + unit,
                 "%s / %s" % (fmt(mc), fmt(mb)),
                 "%.2f" % ratio, goal_text, "yes" if goal(ratio) else "**no**"])


ratio_row("f1", "single-item deliveries/s, 4 clients, synchronous_commit=off",
          "/s", "ratio >= 0.6", True, lambda r: r >= 0.6)
ratio_row("f1n", "figure 1 with presence.feed=notify (ratio = notify / off)",
          "/s", "reported", True, lambda r: True)
ratio_row("f1l", "figure 1 with presence.feed=logical (ratio = logical / off)",
          "/s", "reported", True, lambda r: True)
ratio_row("f1g", "figure 1 with notify and presence.offline_grace=10s (ratio = grace / no grace)",
          "/s", "reported", True, lambda r: True)
ratio_row("f2", "single-item deliveries/s, 4 clients, synchronous_commit=on",
          "/s", "ratio >= 0.8", True, lambda r: r >= 0.8)
if "f2g.p99" in vals and vals["f2g.p99"]:
    rows.append(["2g", "delayed offlines (2 s grace) under figure 2's load at %s deliveries/s: "
                 "lateness past the deadline, %s sent, %s left queued"
                 % (fmt(float(vals["f2g.tps"])), vals["f2g.n"], vals["f2g.left"]),
                 "p50 %s ms, p99 %s ms, max %s ms" % (vals["f2g.p50"], vals["f2g.p99"], vals["f2g.max"]),
                 "", "", "", "within 1 s of the deadline", "yes" if float(vals["f2g.max"]) < 1000 else "**no**"])
else:
    rows.append(["2g", "delayed offlines under figure 2's load", "not run", "", "", "", "within 1 s", "n/a"])

ratio_row("f3", "parse 100,000 distinct bodies (ms; ratio = cast time / parse time)",
          "ms", "faster than the cast (ratio > 1)", False, lambda r: r > 1.0)
ratio_row("f4", "signed deliveries/s through presence-http (32 conns) vs INSERT (32 clients), sync on",
          "/s", "ratio >= 1.0", True, lambda r: r >= 1.0)

if "f5.p99" in vals:
    p50, p99 = float(vals["f5.p50"]), float(vals["f5.p99"])
    rows.append(["5", "latency at half of figure 4's peak (target %s/s, achieved %s/s)"
                 % (fmt(float(vals["f5.target"])), fmt(float(vals["f5.rate"]))),
                 "p50 %.2f ms, p99 %.2f ms" % (p50, p99), "", "", "",
                 "p99 < 10 ms", "yes" if p99 < 10 else "**no**"])
else:
    rows.append(["5", "latency at half of figure 4's peak", "not run", "", "", "", "p99 < 10 ms", "n/a"])

ratio_row("f6", "reconnect storm, 200,000 users x (disconnect, connect), 100-item deliveries (items/s)",
          "/s", "ratio >= 0.5", True, lambda r: r >= 0.5)
ratio_row("f13", "rooms: one item naming 1,000 users, joins then leaves, 4 clients (items/s)",
          "/s", "reported", True, lambda r: True)
ratio_row("f13d", "rooms: the destroy of a 10,000-member room (memberships closed/s)",
          "/s", "reported", True, lambda r: True)
ratio_row("f12", "figure 1 through a router with 4 partitions on this machine (ratio = router / one node)",
          "/s", "reported", True, lambda r: True)
ratio_row("f12s", "the storm (figure 6) through the router (items/s; ratio = router / one node)",
          "/s", "reported", True, lambda r: True)

if "f7a.kb" in vals:
    kb, idle = float(vals["f7a.kb"]), float(vals["f7a.idle_kb"])
    rows.append(["7a", "presence-http RSS, %s idle keep-alive connections" % vals["f7a.open"],
                 "%.1f MB (%.1f MB before)" % (kb / 1024, idle / 1024), "", "", "",
                 "< 32 MB", "yes" if kb < 32 * 1024 and int(vals["f7a.open"]) >= 1000 else "**no**"])
else:
    rows.append(["7a", "presence-http RSS, 1,000 idle keep-alive connections", "not run", "", "", "",
                 "< 32 MB", "n/a"])

if "f7b.ctx.after" in vals:
    g = {k: float(vals["f7b.%s.after" % k]) - float(vals["f7b.%s.before" % k])
         for k in ("ctx", "anon", "rss")}
    ok = g["ctx"] <= float(vals["f7b.ctx_limit"]) and g["anon"] <= float(vals["f7b.anon_limit_kb"])
    rows.append(["7b", "backend memory before/after %s calls (%s)" % (vals["f7b.calls"], vals["f7b.what"]),
                 "contexts %s -> %s B (%+d B); RssAnon %d -> %d kB (%+d kB); VmRSS %d -> %d kB"
                 % (fmt(float(vals["f7b.ctx.before"])), fmt(float(vals["f7b.ctx.after"])), g["ctx"],
                    float(vals["f7b.anon.before"]), float(vals["f7b.anon.after"]), g["anon"],
                    float(vals["f7b.rss.before"]), float(vals["f7b.rss.after"])),
                 "", "", "",
                 "no growth (contexts +%d B, RssAnon +%d kB at most)"
                 % (float(vals["f7b.ctx_limit"]), float(vals["f7b.anon_limit_kb"])),
                 "yes" if ok else "**no**"])
else:
    rows.append(["7b", "backend memory before/after calls", "not run", "", "", "", "no growth", "n/a"])

f9 = [("1,000 after 1,000", "f9.1000.1000"), ("4,000 after 4,000", "f9.4000.4000"),
      ("16,000 after 16,000", "f9.16000.16000"), ("1,000 after 100,000", "f9.1000.100000")]
if all(k in vals for _, k in f9):
    us = [float(vals[k]) for _, k in f9]
    spread = max(us) / min(us) if min(us) > 0 else float("inf")
    rows.append(["9", "older items carrying os, after newer ones without (us per item)",
                 ", ".join("%s: %.1f" % (name, u) for (name, _), u in zip(f9, us)), "", "",
                 "%.2f" % spread, "flat: largest / smallest <= 2", "yes" if spread <= 2 else "**no**"])
else:
    rows.append(["9", "older items carrying os, after newer ones without", "not run", "", "", "",
                 "flat", "n/a"])

if "f10.online_at" in vals:
    at, uh, oc = (float(vals["f10.%s" % k]) for k in ("online_at", "user_history", "online_counts"))
    met = at < 200 and uh < 1 and oc < 1000
    rows.append(["10", "history, %s users / %s sessions kept: online_at, user_history of one user, "
                 "online_counts over a day at 1-minute steps (median ms)"
                 % (fmt(float(vals["f10.users"])), fmt(float(vals["f10.sessions"]))),
                 "%.1f ms, %.3f ms, %.1f ms" % (at, uh, oc), "", "", "",
                 "< 200 ms, < 1 ms, < 1 s", "yes" if met else "**no**"])
else:
    rows.append(["10", "history functions", "not run", "", "", "", "< 200 ms, < 1 ms, < 1 s", "n/a"])

if "f8.ms" in vals and not vals.get("f8.items"):
    rows.append(["8", "CALL presence.maintain(): interrupted after %.0f s (%s items before)"
                 % (float(vals["f8.ms"]) / 1000.0, fmt(float(vals["f8.items_before"]))),
                 "interrupted", "", "", "", "reported (no goal)", "n/a"])
elif "f8.ms" in vals:
    items, ms = float(vals["f8.items"]), float(vals["f8.ms"])
    per_m = ms / 1000.0 / (items / 1e6) if items else 0.0
    rows.append(["8", "CALL presence.maintain(): %s of %s items and %s of %s sessions removed"
                 % (fmt(items), fmt(float(vals["f8.items_before"])), fmt(float(vals["f8.sessions"])),
                    fmt(float(vals["f8.sessions_before"]))),
                 "%.1f s, %.1f s per million items" % (ms / 1000.0, per_m), "", "", "",
                 "reported (no goal)", "n/a"])
else:
    rows.append(["8", "CALL presence.maintain()", "not run", "", "", "", "reported", "n/a"])



def space_row(key, title, raw_key, raw_name, raw_table):
    need = ["%s.%s.%s" % (key, t, f) for t in ("events", "sessions", "users") for f in ("rows", "bytes")]
    if not all(k in vals for k in need) or float(vals["%s.events.rows" % key]) == 0:
        rows.append([key.upper(), title, "not run", "", "", "", "", "n/a"])
        return
    per = {}
    for t in ("events", "sessions", "users", raw_table):
        n = float(vals.get("%s.%s.rows" % (key, t), 0) or 0)
        per[t] = float(vals["%s.%s.bytes" % (key, t)]) / n if n else float("nan")
    upd = {t: float(vals.get("%s.%s.upd" % (key, t), 0) or 0) for t in ("users", "sessions")}
    hot = {t: float(vals.get("%s.%s.hot" % (key, t), 0) or 0) for t in ("users", "sessions")}
    share = lambda t: "%.1f%%" % (100.0 * hot[t] / upd[t]) if upd[t] else "no updates"
    all_upd, all_hot = sum(upd.values()), sum(hot.values())
    hot_all = 100.0 * all_hot / all_upd if all_upd else 100.0
    raw = float(vals.get(raw_key) or "nan")
    met = per["events"] < raw and per["users"] < 200 and per["sessions"] < 200 and hot_all >= 90
    rows.append([key.upper(), title,
                 "item %.0f B, session %.0f B, user %.0f B; HOT: users %s, sessions %s, both %.1f%%"
                 % (per["events"], per["sessions"], per["users"], share("users"), share("sessions"), hot_all),
                 "%s %.0f B (%.0f B per stored row)" % (raw_name, raw, per[raw_table]),
                 "%s items, %s sessions, %s users added" % tuple(
                     fmt(float(vals["%s.%s.rows" % (key, t)])) for t in ("events", "sessions", "users")),
                 "%.2f" % (per["events"] / raw) if raw == raw and raw else "",
                 "item < %s (moonshot 150 B); session, user < 200 B; HOT >= 90%%" % raw_name,
                 "yes" if met else "**no**"])


space_row("s1", "space after figure 1 (warm-up included): bytes per row added (table + indexes + TOAST), "
          "share of HOT updates", "s1.body_len", "raw body", "raw")
space_row("s6", "space after the storm (figure 6): bytes per row added, share of HOT updates",
          "s6.item_len", "raw item", "raw_items")


def read_rows():
    goals = {"a": 2.0, "b": 2.0, "c": 50.0, "d": 20.0}
    names = {"a": "200 friends: user_id = ANY($1) AND online",
             "b": "one user's online sessions",
             "c": "online count per platform (presence.platforms)",
             "d": "room_online() of a 1,000-member room"}
    rates = {"a": 200, "b": 200, "c": 5, "d": 50}
    for q in "abcd":
        c99, b99 = rounds("f11%s.c.p99" % q, ""), rounds("f11%s.b.p99" % q, "")
        c50, b50 = rounds("f11%s.c.p50" % q, ""), rounds("f11%s.b.p50" % q, "")
        title = "reads at %d/s while figure 2's load runs at %s/s: %s (ms)" % (
            rates[q], fmt(float(vals.get("f11.target", "nan"))), names[q])
        if not c99 or not b99:
            rows.append(["11" + q, title, "not run", "", "", "", "p99 < %g ms" % goals[q], "n/a"])
            continue
        m = statistics.median
        rows.append(["11" + q, title,
                     "p99 " + " / ".join("%.2f" % x for x in c99) + " (p50 " + " / ".join("%.2f" % x for x in c50) + ")",
                     "idle: p99 " + " / ".join("%.2f" % x for x in b99) + " (p50 " + " / ".join("%.2f" % x for x in b50) + ")",
                     "p99 %.2f / %.2f, p50 %.2f / %.2f" % (m(c99), m(b99), m(c50), m(b50)),
                     "%.2f" % (m(c99) / m(b99)) if m(b99) else "",
                     "p99 < %g ms under load" % goals[q], "yes" if m(c99) < goals[q] else "**no**"])


read_rows()

head = ["#", "figure", "contender (rounds)", "baseline (rounds)", "medians C / B", "ratio", "goal", "met?"]
print("| " + " | ".join(head) + " |")
print("|" + "|".join("---" for _ in head) + "|")
for r in rows:
    print("| " + " | ".join(r) + " |")
