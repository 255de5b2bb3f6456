#!/usr/bin/env python3
"""Drives Tessera's real browser + client flow to mint what the wrk scripts need.

Python 3 standard library only. Talks only to a Tessera on loopback; every request has a timeout
and every loop a bound.

    mint.py smoke                               end-to-end check of the flow (asserts)
    mint.py sessions --count K --out FILE       K signed-in sessions with remembered consent;
                                                lines "tessera_session=... verifier challenge"
    mint.py tokens --count N --out FILE [--access-out FILE] [--sessions-file FILE]
                                                N code exchanges (N grants): refresh tokens to
                                                FILE, the JWT access tokens to --access-out;
                                                codes come from sessions of --sessions-file
                                                (else from 4 new sign-ins)

Connection settings come from options or the environment (what benches/run exports):
    --base      BENCH_BASE           http://127.0.0.1:8180
    --client-id BENCH_CLIENT_ID      the client's public id
    --secret    BENCH_CLIENT_SECRET  the client's secret
    --username  BENCH_USERNAME       bench-user
    --password  BENCH_PASSWORD       password123
    --concurrency 16

The flow, as a browser does it: GET /oauth/authorize without a session -> sign-in page (form +
tessera_login_csrf cookie) -> POST /oauth/login -> 303 + tessera_session -> GET the return_to ->
consent page (first time for this user + client) -> POST /oauth/authorize decision=approve ->
303 to the redirect URI with a code. Later GET /oauth/authorize with the session -> 302 with a code
at once (remembered consent). Codes are exchanged at POST /oauth/token with HTTP Basic.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser

REDIRECT_URI = "http://127.0.0.1:9999/cb"
SCOPE = "claims:read claims:write"
TIMEOUT_S = 30


class Flow:
    def __init__(self, base, client_id, secret, username, password):
        url = urllib.parse.urlsplit(base)
        if url.hostname not in ("127.0.0.1", "localhost", "::1") and not url.hostname.startswith("127."):
            raise SystemExit(f"refusing to send traffic to {url.hostname}: loopback only")
        self.host, self.port = url.hostname, url.port or 80
        self.client_id, self.secret = client_id, secret
        self.username, self.password = username, password
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        self.basic = f"Basic {basic}"
        self.local = threading.local()

    # --- HTTP -------------------------------------------------------------------------------
    def _conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_S)
            self.local.conn = c
        return c

    def request(self, method, path, headers=None, body=None):
        """One request on this thread's keep-alive connection (reconnects once if it was closed).
        Returns (status, headers as a list of (lowercase name, value), body text)."""
        headers = dict(headers or {})
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(method, path, body=body, headers=headers)
                res = conn.getresponse()
                data = res.read().decode("utf-8", "replace")
                return res.status, [(k.lower(), v) for k, v in res.getheaders()], data
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def header(headers, name):
        return next((v for k, v in headers if k == name), None)

    @staticmethod
    def cookie(headers, name):
        for k, v in headers:
            if k == "set-cookie":
                pair = v.split(";", 1)[0]
                n, _, value = pair.partition("=")
                if n.strip() == name:
                    return value.strip()
        return None

    # --- OAuth pieces ---------------------------------------------------------------------
    @staticmethod
    def pkce():
        verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        return verifier, challenge

    def authorize_path(self, state, challenge):
        q = urllib.parse.urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": REDIRECT_URI,
            "scope": SCOPE, "state": state, "code_challenge": challenge, "code_challenge_method": "S256",
        }, quote_via=urllib.parse.quote)
        return f"/oauth/authorize?{q}"

    def code_from(self, location, state):
        url = urllib.parse.urlsplit(location)
        if f"{url.scheme}://{url.netloc}{url.path}" != REDIRECT_URI:
            raise AssertionError(f"redirected elsewhere: {location}")
        q = dict(urllib.parse.parse_qsl(url.query))
        if "error" in q:
            raise AssertionError(f"authorization error: {q}")
        if q.get("state") != state:
            raise AssertionError(f"state mismatch in {location}")
        return q["code"]

    def sign_in(self):
        """Signs in through the sign-in page and approves consent if asked. Returns
        (session cookie value, code, verifier, whether the consent page was shown)."""
        verifier, challenge = self.pkce()
        state = secrets.token_hex(8)
        status, headers, body = self.request("GET", self.authorize_path(state, challenge))
        assert status == 200, f"sign-in page: expected 200, got {status}: {body[:300]}"
        form = Forms.parse(body).find("/oauth/login")
        csrf_cookie = self.cookie(headers, "tessera_login_csrf")
        assert csrf_cookie, "sign-in page sets tessera_login_csrf"
        fields = dict(form["hidden"], username=self.username, password=self.password)
        status, headers, body = self.request(
            "POST", "/oauth/login", {"Cookie": f"tessera_login_csrf={csrf_cookie}"}, fields)
        assert status == 303, f"sign-in: expected 303, got {status}: {body[:300]}"
        session = self.cookie(headers, "tessera_session")
        assert session, "sign-in sets tessera_session"
        return_to = self.header(headers, "location")
        assert return_to == fields["return_to"], f"sign-in returns to {return_to}"
        status, headers, body = self.request("GET", return_to, {"Cookie": f"tessera_session={session}"})
        consented = False
        if status == 200:  # consent page: approve with all its hidden fields
            form = Forms.parse(body).find("/oauth/authorize")
            assert ("decision", "approve") in form["buttons"], "consent page has an approve button"
            fields = dict(form["hidden"], decision="approve")
            status, headers, body = self.request(
                "POST", "/oauth/authorize", {"Cookie": f"tessera_session={session}"}, fields)
            assert status == 303, f"consent: expected 303, got {status}: {body[:300]}"
            consented = True
        else:
            assert status == 302, f"after sign-in: expected consent page or 302, got {status}: {body[:300]}"
        code = self.code_from(self.header(headers, "location"), state)
        return session, code, verifier, consented

    def authorize(self, session):
        """Remembered consent: one GET with the session -> 302 with a code."""
        verifier, challenge = self.pkce()
        state = secrets.token_hex(8)
        status, headers, body = self.request(
            "GET", self.authorize_path(state, challenge), {"Cookie": f"tessera_session={session}"})
        assert status == 302, f"authorize with a live session: expected 302, got {status}: {body[:300]}"
        return self.code_from(self.header(headers, "location"), state), verifier

    def token(self, params):
        status, _, body = self.request("POST", "/oauth/token", {"Authorization": self.basic}, params)
        return status, json.loads(body)

    def exchange(self, code, verifier):
        return self.token({"grant_type": "authorization_code", "code": code,
                           "redirect_uri": REDIRECT_URI, "code_verifier": verifier})

    def refresh(self, rt):
        return self.token({"grant_type": "refresh_token", "refresh_token": rt})

    def introspect(self, token):
        status, _, body = self.request("POST", "/oauth/introspect", {"Authorization": self.basic}, {"token": token})
        return status, json.loads(body)


class Forms(HTMLParser):
    """Collects each form's action, hidden inputs and named submit buttons."""

    def __init__(self):
        super().__init__()
        self.forms = []

    @classmethod
    def parse(cls, html):
        p = cls()
        p.feed(html)
        return p

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": (a.get("method") or "get").lower(),
                               "hidden": {}, "buttons": []})
        elif self.forms and tag == "input" and a.get("type") == "hidden" and a.get("name"):
            self.forms[-1]["hidden"][a["name"]] = a.get("value") or ""
        elif self.forms and tag == "button" and a.get("name"):
            self.forms[-1]["buttons"].append((a["name"], a.get("value") or ""))

    def find(self, action):
        for f in self.forms:
            if f["action"] == action and f["method"] == "post":
                return f
        raise AssertionError(f"no POST form to {action} on the page")


def pool(n, concurrency, fn):
    """fn(i) for i in range(n), at most `concurrency` at once; the first failure is raised."""
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, n))) as ex:
        return list(ex.map(fn, range(n)))


def write_lines(path, lines):
    with open(path, "w") as f:
        f.write("".join(f"{x}\n" for x in lines))


def smoke(flow):
    session, code, verifier, _ = flow.sign_in()
    code2, verifier2 = flow.authorize(session)  # remembered consent: straight back with a code
    status, t = flow.exchange(code, verifier)
    assert status == 200, t
    assert t["token_type"].lower() == "bearer" and t["expires_in"] == 3600, t
    assert t["access_token"].count(".") == 2, "access token is a JWT"
    assert t["refresh_token"].startswith("tsr_rt_"), t
    status, replay = flow.exchange(code, verifier)
    assert status == 400 and replay["error"] == "invalid_grant", replay
    status, t2 = flow.exchange(code2, verifier2)
    assert status == 200, t2
    status, r1 = flow.refresh(t2["refresh_token"])
    assert status == 200 and r1["refresh_token"] != t2["refresh_token"], r1
    status, reuse = flow.refresh(t2["refresh_token"])
    assert reuse.get("error") == "invalid_grant", reuse
    status, after = flow.refresh(r1["refresh_token"])
    assert after.get("error") == "invalid_grant", f"reuse revokes the family: {after}"
    # A replayed code revokes what it was exchanged for (RFC 9700 §4.2.4), so the first access
    # token is inactive now; a fresh one is active.
    status, i = flow.introspect(t["access_token"])
    assert status == 200 and i["active"] is False, f"replayed code's token still active: {i}"
    code3, verifier3 = flow.authorize(session)
    status, t3 = flow.exchange(code3, verifier3)
    assert status == 200, t3
    status, i = flow.introspect(t3["access_token"])
    assert status == 200 and i["active"] is True, i
    print("introspection of an access token:", json.dumps(i))
    print("smoke: ok")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["smoke", "sessions", "tokens"])
    ap.add_argument("--base", default=os.environ.get("BENCH_BASE", "http://127.0.0.1:8180"))
    ap.add_argument("--client-id", default=os.environ.get("BENCH_CLIENT_ID"))
    ap.add_argument("--secret", default=os.environ.get("BENCH_CLIENT_SECRET"))
    ap.add_argument("--username", default=os.environ.get("BENCH_USERNAME", "bench-user"))
    ap.add_argument("--password", default=os.environ.get("BENCH_PASSWORD", "password123"))
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("--access-out")
    ap.add_argument("--sessions-file")
    a = ap.parse_args()
    if not a.client_id or not a.secret:
        ap.error("--client-id and --secret (or BENCH_CLIENT_ID / BENCH_CLIENT_SECRET) are required")
    flow = Flow(a.base, a.client_id, a.secret, a.username, a.password)
    t0 = time.monotonic()

    if a.command == "smoke":
        smoke(flow)
        return

    if not a.out:
        ap.error("--out is required")
    if a.command == "sessions":
        # One sign-in first, so that the consent is remembered before the others sign in.
        first = flow.sign_in()[0]

        # Tessera counts each sign-in before checking its password, so that parallel guesses
        # cannot all pass; more than TESSERA_SIGN_IN_FREE_FAILURES (5) sign-ins of one account
        # at once would be told to wait. Four at a time, the rest of each task in parallel.
        signing_in = threading.BoundedSemaphore(4)

        def one(i):
            if i == 0:
                session = first
            else:
                with signing_in:
                    session = flow.sign_in()[0]
            flow.authorize(session)  # proves remembered consent on this session
            verifier, challenge = flow.pkce()
            return f"tessera_session={session} {verifier} {challenge}"

        lines = pool(a.count, a.concurrency, one)
        write_lines(a.out, lines)
        print(f"signed in {len(lines)} sessions with remembered consent in {time.monotonic() - t0:.1f} s",
              file=sys.stderr)
    elif a.command == "tokens":
        # A few sessions are enough: every code exchange starts its own grant (token family).
        # Sessions from --sessions-file (mint.py sessions) spare the server the sign-ins, whose
        # password hashing would otherwise dominate the process's peak memory.
        if a.sessions_file:
            lines = [x for x in open(a.sessions_file).read().splitlines() if x][:4]
            sessions = [x.split()[0].split("=", 1)[1] for x in lines]
        else:
            sessions = [flow.sign_in()[0] for _ in range(min(4, a.count))]

        def one(i):
            code, verifier = flow.authorize(sessions[i % len(sessions)])
            status, t = flow.exchange(code, verifier)
            assert status == 200 and t.get("refresh_token"), f"exchange failed: {status} {t}"
            return t["refresh_token"], t["access_token"]

        pairs = pool(a.count, a.concurrency, one)
        write_lines(a.out, [rt for rt, _ in pairs])
        if a.access_out:
            write_lines(a.access_out, [at for _, at in pairs])
        print(f"minted {len(pairs)} refresh-token chains (one grant each) in {time.monotonic() - t0:.1f} s",
              file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"mint.py: {e}", file=sys.stderr)
        sys.exit(1)
