#!/usr/bin/env python3
"""Bulk-seeds Tessera's database with filler rows for the scale benchmarks.

Seeding a million rows through the HTTP API would take hours, so the rows are written straight
into the tables, in the exact shape Tessera writes them (see migrations/*/): SQLite with the
standard library's sqlite3 (the server must be stopped), PostgreSQL through `psql` with
COPY ... FROM STDIN (CSV).

    seed.py --db URL --org-id O --user-id U --client-pk C
            [--integration-tokens N] [--refresh-tokens N]
            [--sample K --sample-out FILE [--prev-sample FILE --prev-total P]]
            [--revoked R --revoked-out FILE]

--integration-tokens N  N more live integration tokens, each in its own integration (org O,
                        env live, scopes "claims:read claims:write", created by user U)
--refresh-tokens N      N more live refresh tokens, each with its own grant (client pk C,
                        user U, org O), as if N users had authorized the client
--sample K              write K of the integration tokens' plaintexts (uniformly drawn from
                        all P + N seeded so far: --prev-sample holds the sample drawn from the
                        earlier P) to --sample-out, for the /v1/check and introspection runs
--revoked R             one more integration, revoked, with R tokens; their plaintexts go to
                        --revoked-out (the revoked-token run expects 401 for each)

Token text: {brand}_{env}_{32 base62}{6-char base62 CRC32 of the rest}; the store keeps the
SHA-256 of the whole text, the first 12 characters and the last 4 (src/tokens/secret.rs).
The random parts come from a PRNG seeded from os.urandom: bench data only.
"""

import argparse
import hashlib
import os
import random
import sqlite3
import subprocess
import sys
import time
import zlib
from datetime import datetime, timedelta, timezone

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SCOPES = "claims:read claims:write"
CHUNK = 50_000
rng = random.Random(os.urandom(32))


def rand62(n):
    return "".join(rng.choices(BASE62, k=n))


def checksum(body):
    n = zlib.crc32(body.encode())
    out = []
    for _ in range(6):
        out.append(BASE62[n % 62])
        n //= 62
    return "".join(reversed(out))


def mint(brand, kind):
    body = f"{brand}_{kind}_{rand62(32)}"
    return body + checksum(body)


def sha256(text):
    return hashlib.sha256(text.encode()).digest()


def ts(t):
    """Timestamps as Tessera stores them: UTC, no zone, microseconds."""
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


class Reservoir:
    """Uniform sample of k items from a stream of unknown length (Algorithm R)."""

    def __init__(self, k):
        self.k, self.seen, self.items = k, 0, []

    def offer(self, item):
        self.seen += 1
        if len(self.items) < self.k:
            self.items.append(item)
        else:
            j = rng.randrange(self.seen)
            if j < self.k:
                self.items[j] = item


# --- row generators (column order = the INSERT/COPY column lists below) ---------------------
INTEGRATION_COLS = ("id", "org_id", "name", "description", "env", "scopes", "allow_ips", "expires_at",
                    "inactive_after_secs", "created_by", "created_at", "updated_at", "revoked_at")
TOKEN_COLS = ("integration_id", "token_hash", "prefix", "last4", "created_at", "expires_at", "revoked_at",
              "last_used_at", "last_used_ip", "use_count")
GRANT_COLS = ("id", "client_id", "user_id", "org_id", "scope", "created_at", "expires_at", "revoked_at",
              "revoked_reason")
RT_COLS = ("token_hash", "grant_id", "scope", "created_at", "expires_at", "rotated_at")


def integration_rows(a, count, now, label, revoked, sink):
    """Yields (integrations rows, integration_tokens rows) chunks; plaintexts go to sink()."""
    per_integration = count if revoked else 1
    integrations, tokens = [], []
    iid = None
    for i in range(count):
        if i % per_integration == 0:
            iid = f"int_{rand62(16)}"
            integrations.append((iid, a.org_id, f"{label} {i}", "", "live", SCOPES, "", None, None,
                                 a.user_id, now, now, now if revoked else None))
        token = mint(a.brand, "live")
        sink(token)
        tokens.append((iid, sha256(token), token[:12], token[-4:], now, None, None, None, None, 0))
        if len(tokens) >= CHUNK:
            yield integrations, tokens
            integrations, tokens = [], []
    if tokens or integrations:
        yield integrations, tokens


def refresh_rows(a, count, now, expires):
    grants, rts = [], []
    for _ in range(count):
        gid = rand62(22)
        grants.append((gid, a.client_pk, a.user_id, a.org_id, SCOPES, now, expires, None, None))
        rts.append((sha256(mint(a.brand, "rt")), gid, SCOPES, now, expires, None))
        if len(rts) >= CHUNK:
            yield grants, rts
            grants, rts = [], []
    if rts:
        yield grants, rts


# --- writers ---------------------------------------------------------------------------------
class SqliteWriter:
    def __init__(self, path):
        self.con = sqlite3.connect(path, isolation_level=None, timeout=30)
        # Bulk load: no fsync per commit, a big page cache for the random-keyed unique indexes.
        self.con.execute("PRAGMA synchronous = OFF")
        self.con.execute("PRAGMA cache_size = -262144")
        self.con.execute("PRAGMA foreign_keys = ON")

    def insert(self, table, cols, rows):
        if not rows:
            return
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        self.con.execute("BEGIN")
        self.con.executemany(sql, [tuple(ts(v) if isinstance(v, datetime) else v for v in r) for r in rows])
        self.con.execute("COMMIT")

    def close(self):
        self.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.con.close()


class PostgresWriter:
    """One `psql -c "COPY ... FROM STDIN"` per chunk and table (CSV; bytea as \\x hex)."""

    def __init__(self, url):
        self.url = url

    @staticmethod
    def csv_field(v):
        if v is None:
            return ""
        if isinstance(v, bytes):
            return "\\x" + v.hex()
        if isinstance(v, datetime):
            return ts(v)
        s = str(v)
        if any(c in s for c in ',"\n\r') or s == "":
            return '"' + s.replace('"', '""') + '"'
        return s

    def insert(self, table, cols, rows):
        if not rows:
            return
        data = "".join(",".join(self.csv_field(v) for v in r) + "\n" for r in rows)
        cmd = ["psql", self.url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
               f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)"]
        subprocess.run(cmd, input=data.encode(), check=True, timeout=600)

    def close(self):
        subprocess.run(["psql", self.url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                        "ANALYZE integrations, integration_tokens, grants, refresh_tokens"],
                       check=True, timeout=600)


def writer_for(url):
    if url.startswith("sqlite://"):
        return SqliteWriter(url[len("sqlite://"):])
    if url.startswith(("postgres://", "postgresql://")):
        return PostgresWriter(url)
    raise SystemExit(f"unsupported database URL {url}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True)
    ap.add_argument("--org-id", type=int, required=True)
    ap.add_argument("--user-id", type=int, required=True)
    ap.add_argument("--client-pk", type=int, required=True)
    ap.add_argument("--brand", default="tsr")
    ap.add_argument("--integration-tokens", type=int, default=0)
    ap.add_argument("--refresh-tokens", type=int, default=0)
    ap.add_argument("--sample", type=int, default=0)
    ap.add_argument("--sample-out")
    ap.add_argument("--prev-sample")
    ap.add_argument("--prev-total", type=int, default=0)
    ap.add_argument("--revoked", type=int, default=0)
    ap.add_argument("--revoked-out")
    a = ap.parse_args()

    t0 = time.monotonic()
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    expires = now + timedelta(days=30)
    w = writer_for(a.db)

    # Integration tokens, with a sample that stays uniform over everything seeded so far.
    new = a.integration_tokens
    total = a.prev_total + new
    prev = []
    if a.prev_sample and os.path.exists(a.prev_sample):
        prev = [x for x in open(a.prev_sample).read().split() if x]
    keep_old = min(len(prev), round(a.sample * a.prev_total / total)) if total else 0
    reservoir = Reservoir(min(new, a.sample - keep_old))
    for integ, toks in integration_rows(a, new, now, "bench", False, reservoir.offer):
        w.insert("integrations", INTEGRATION_COLS, integ)
        w.insert("integration_tokens", TOKEN_COLS, toks)
    t1 = time.monotonic()
    if a.sample_out:
        sample = rng.sample(prev, keep_old) + reservoir.items
        rng.shuffle(sample)
        with open(a.sample_out, "w") as f:
            f.write("".join(f"{x}\n" for x in sample))

    revoked = []
    if a.revoked:
        for integ, toks in integration_rows(a, a.revoked, now, "bench revoked", True, revoked.append):
            w.insert("integrations", INTEGRATION_COLS, integ)
            w.insert("integration_tokens", TOKEN_COLS, toks)
        with open(a.revoked_out, "w") as f:
            f.write("".join(f"{x}\n" for x in revoked))

    for grants, rts in refresh_rows(a, a.refresh_tokens, now, expires):
        w.insert("grants", GRANT_COLS, grants)
        w.insert("refresh_tokens", RT_COLS, rts)
    t2 = time.monotonic()
    w.close()
    t3 = time.monotonic()
    print(f"seeded {new} integration tokens in {t1 - t0:.1f} s, {a.revoked} revoked ones and "
          f"{a.refresh_tokens} refresh tokens (+ grants) in {t2 - t1:.1f} s, finished in {t3 - t2:.1f} s "
          f"(total {t3 - t0:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
