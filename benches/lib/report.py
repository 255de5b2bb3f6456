#!/usr/bin/env python3
"""Renders a benchmark run (benches/results/<stamp>/results.tsv, written by benches/run) as the
Markdown table of the run plus the project's targets, met or not.

    report.py RESULTS_DIR > RESULTS_DIR/table.md

results.tsv columns: side (tessera|peer), backend, scale, test, conns, status (ok|na), note,
the RESULT line of benches/lua/common.lua, peak RSS in MiB.
"""

import csv
import os
import sys

LABELS = {
    "healthz": "GET /healthz (ceiling)",
    "check-integration": "/v1/check, integration token",
    "check-jwt": "/v1/check, JWT access token",
    "check-revoked": "/v1/check, revoked token (401 expected)",
    "introspect-jwt": "POST /oauth/introspect, JWT access token",
    "introspect-integration": "POST /oauth/introspect, integration token",
    "refresh": "POST /oauth/token, refresh with rotation",
    "roundtrip": "authorize → code → token (authz/s)",
    "check-flood": "/v1/check, integration, beside a sign-in flood (one account, one address)",
    "check-flood-open": "/v1/check, integration, beside a sign-in flood (every guess hashed)",
}
ORDER = list(LABELS)


def parse_result(line):
    out = {}
    for part in line.split()[1:]:
        k, _, v = part.partition("=")
        try:
            out[k] = float(v)
        except ValueError:
            pass
    return out


def load(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            r["conns"] = int(r["conns"])
            r["scale"] = int(r["scale"]) if r["scale"] not in ("", "-") else None
            r["r"] = parse_result(r["result"])
            r["rss"] = float(r["rss_mib"]) if r["rss_mib"] else None
            m = r["r"]
            r["rate"] = m.get("units_per_s", 0.0)
            r["errors"] = int(sum(m.get(k, 0) for k in ("bad", "err_connect", "err_read", "err_write", "err_timeout")))
            r["measured"] = r["status"] == "ok" and m.get("requests", 0) > 0
            rows.append(r)
    return rows


def num(x):
    return f"{x:,.0f}"


def ms(x):
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def scale_label(n):
    if n is None:
        return "—"
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


class Run:
    def __init__(self, rows):
        self.rows = rows
        self.tessera = [r for r in rows if r["side"] == "tessera"]
        self.peer = {(r["test"], r["conns"]): r for r in rows if r["side"] == "peer"}
        self.healthz = {(r["side"], r["backend"], r["scale"], r["conns"]): r for r in rows
                        if r["test"] == "healthz" and r["measured"]}
        self.backends = list(dict.fromkeys(r["backend"] for r in self.tessera))
        self.scales = sorted({r["scale"] for r in self.tessera if r["scale"] is not None})

    def x_healthz(self, r):
        h = self.healthz.get((r["side"], r["backend"], r["scale"], r["conns"]))
        if not r["measured"] or not h or not h["rate"]:
            return None
        return r["rate"] / h["rate"]

    def vs_peer(self, r):
        p = self.peer.get((r["test"], r["conns"]))
        if not r["measured"] or not p or not p["measured"] or not p["rate"]:
            return None
        return r["rate"] / p["rate"]

    def cell(self, r):
        """rate, × healthz, p50 / p99, errors, RSS for one measured row (or n/a)."""
        if r is None:
            return ["—"] * 5
        if not r["measured"]:
            return [f"n/a ({r['note'] or 'no result'})", "—", "—", "—", fmt_rss(r["rss"])]
        m = r["r"]
        rate = num(r["rate"])
        if m.get("exhausted"):
            rate += " (ran out of material)"
        x = self.x_healthz(r)
        err = str(r["errors"])
        return [rate, f"{x:.2f}" if x is not None else "—", f"{ms(m['p50_ms'])} / {ms(m['p99_ms'])}",
                err, fmt_rss(r["rss"])]

    def table(self):
        has_peer = bool(self.peer)
        head = ["backend", "N", "test", "conns", "per s", "× healthz", "p50 / p99 ms", "errors", "peak RSS MiB"]
        if has_peer:
            head += ["peer per s", "peer × healthz", "peer p50 / p99 ms", "peer RSS MiB", "Tessera ÷ peer"]
        out = ["| " + " | ".join(head) + " |",
               "|" + "|".join("---" if i < 3 else "---:" for i in range(len(head))) + "|"]
        key = lambda r: (self.backends.index(r["backend"]), r["scale"] or 0, ORDER.index(r["test"]), r["conns"])
        for r in sorted(self.tessera, key=key):
            line = [r["backend"], scale_label(r["scale"]), LABELS[r["test"]], str(r["conns"])] + self.cell(r)
            if r["measured"] and r["note"]:
                line[4] += f" ({r['note']})"  # e.g. PostgreSQL transactions and WAL flushes per op
            if has_peer:
                p = self.peer.get((r["test"], r["conns"]))
                pc = self.cell(p)
                line += [pc[0] + (f" ({p['note']})" if p and p["note"] and p["measured"] else ""),
                         pc[1], pc[2], pc[4]]
                v = self.vs_peer(r)
                line.append(f"**{v:.2f}**" if v is not None else "—")
            out.append("| " + " | ".join(line) + " |")
        return "\n".join(out)

    # --- targets ------------------------------------------------------------------------------
    def where(self, r):
        return f"N={scale_label(r['scale'])}, c={r['conns']}"

    def worst(self, rows, value, lowest=True):
        vals = [(value(r), r) for r in rows]
        vals = [(v, r) for v, r in vals if v is not None]
        if not vals:
            return None, None
        return (min if lowest else max)(vals, key=lambda x: x[0])

    def na_reason(self, rows, default="not measured"):
        notes = {r["note"] for r in rows if not r["measured"] and r["note"]}
        return f"n/a ({', '.join(sorted(notes))})" if notes else f"n/a ({default})"

    def targets(self):
        out = ["| target | backend | measured (worst case) | result |", "|---|---|---|---|"]

        def add(name, backend, text, met):
            res = text if met is None else ("met" if met else "**not met**")
            meas = "—" if met is None else text
            out.append(f"| {name} | {backend} | {meas} | {res} |")

        for b in self.backends:
            rows = lambda t: [r for r in self.tessera if r["backend"] == b and r["test"] == t]
            # Issue 14's targets (scale-out): 0.8 × healthz for both kinds of token.
            for test, bound, name in (("check-integration", 0.8, "/v1/check integration ≥ 0.8 × healthz"),
                                      ("check-jwt", 0.8, "/v1/check JWT ≥ 0.8 × healthz")):
                v, r = self.worst(rows(test), self.x_healthz)
                if r is None:
                    add(name, b, self.na_reason(rows(test)), None)
                else:
                    add(name, b, f"{v:.2f} × ({self.where(r)})", v >= bound)
            if len(self.scales) > 1:
                lo, hi = self.scales[0], self.scales[-1]
                for test in ("check-integration", "check-jwt"):
                    name = f"{LABELS[test]} at N={scale_label(hi)} within 5 % of N={scale_label(lo)}"
                    pairs = []
                    for r in rows(test):
                        if r["scale"] == hi and r["measured"]:
                            base = next((x for x in rows(test) if x["scale"] == lo and x["conns"] == r["conns"]
                                         and x["measured"] and x["rate"]), None)
                            if base:
                                pairs.append((r["rate"] / base["rate"], r))
                    if not pairs:
                        add(name, b, self.na_reason(rows(test)), None)
                    else:
                        v, r = min(pairs, key=lambda x: x[0])
                        add(name, b, f"{v:.2f} of the N={scale_label(lo)} figure (c={r['conns']})", v >= 0.95)
            refresh_bound = 5 if b == "sqlite" else 3
            for test, bound, name in (("refresh", refresh_bound, f"refresh ≥ {refresh_bound} × peer"),
                                      ("roundtrip", 3, "round trip ≥ 3 × peer")):
                if not self.peer:
                    add(name, b, "n/a (run with --peer)", None)
                    continue
                v, r = self.worst(rows(test), self.vs_peer)
                if r is None:
                    add(name, b, self.na_reason(rows(test)), None)
                else:
                    add(name, b, f"{v:.2f} × peer ({num(r['rate'])} vs {num(self.peer[(test, r['conns'])]['rate'])}/s, "
                                 f"{self.where(r)})", v >= bound)
            if b == "sqlite":
                measured = [r for r in self.tessera if r["backend"] == b and r["rss"] is not None]
                v, r = self.worst(measured, lambda r: r["rss"], lowest=False)
                if r is None:
                    add("peak RSS < 64 MiB on SQLite", b, "n/a (not measured)", None)
                else:
                    add("peak RSS < 64 MiB on SQLite", b, f"{v:.1f} MiB ({LABELS[r['test']]}, {self.where(r)})", v < 64)
            checks = [r for t in ("check-integration", "check-jwt", "check-revoked") for r in rows(t) if r["conns"] == 64]
            v, r = self.worst([r for r in checks if r["measured"]], lambda r: r["r"]["p99_ms"], lowest=False)
            if r is None:
                add("/v1/check p99 at 64 connections < 2 ms", b,
                    self.na_reason(checks, "64 connections not measured"), None)
            else:
                add("/v1/check p99 at 64 connections < 2 ms", b, f"{ms(v)} ms ({LABELS[r['test']]}, N={scale_label(r['scale'])})", v < 2)
        return "\n".join(out)


def fmt_rss(x):
    return f"{x:.0f}" if x is not None else "—"


def main():
    d = sys.argv[1]
    run = Run(load(os.path.join(d, "results.tsv")))
    stamp = os.path.basename(os.path.normpath(d))
    print(f"# Tessera benchmark — {stamp}\n")
    if os.path.exists(os.path.join(d, "meta.md")):
        print(open(os.path.join(d, "meta.md")).read().rstrip() + "\n")
    print(run.table() + "\n")
    print("## Targets\n")
    print(run.targets() + "\n")
    seeding = os.path.join(d, "seeding.txt")
    if os.path.exists(seeding):
        print("## Seeding\n")
        for line in open(seeding).read().splitlines():
            print(f"- {line}")
        print()
    print("""## How to read this

- **per s**: successful answers per second (the answer the test expects: 200, `"active":true`, a new
  refresh token, or 401 for the revoked token); for the round trip, completed authorizations per
  second (each = one `GET /oauth/authorize` + one `POST /oauth/token`).
- **× healthz**: that rate over `GET /healthz` req/s at the same backend, N and connection count in
  this run (the peer's: over its own `GET /bench-healthz`).
- **p50 / p99**: wrk's per-request latency (for the round trip, over both kinds of request).
- **errors**: answers other than the expected one, plus socket errors (connect, read, write, timeout).
- **peak RSS**: VmHWM of the server process at the end of the run; every run has a fresh process
  (minting for the refresh run included).
- **N**: integration tokens and refresh tokens bulk-loaded before the run (the check and introspection
  runs cycle through a uniform sample of the integration tokens; refresh and round-trip runs add
  rows of their own).
- **Tessera ÷ peer**: Tessera's rate over node-oidc-provider's for the same test and connection count
  (the peer has no `/v1/check` and no integration tokens; its introspection figure is for opaque
  access tokens, as it does not introspect JWTs).
- n/a: the test's probe request did not get the expected answer (e.g. `/v1/check` not there yet),
  so the test was not measured.
- Two processes share 2 cores (server and wrk -t1): compare ratios from one run, not absolute
  figures across runs.""")


if __name__ == "__main__":
    main()
