#!/usr/bin/env python3
"""A webhook receiver that verifies every delivery with the Standard Webhooks reference library
(PyPI `standardwebhooks`, unchanged), as an integrator's endpoint would.

Prints `LISTENING <port>` once it listens on 127.0.0.1. Behaviour by path:

  /ok            200
  /fail/N        500 for the first N deliveries of each webhook-id, then 200
  /redirect      302 to /ok (a sender must not follow it)
  /gone          410 Gone
  /hang          the first delivery of each webhook-id is held open (no answer) until the
                 test kills the sender; later deliveries of that id get 200

Control (JSON):

  PUT /_control/secrets   {"label": "whsec_...", ...}: the secrets to verify with, by label
  GET /_control/received  every request received, in order: {"path", "id", "timestamp",
                          "type", "body", "verified": {label: bool}, "status"} — "status" is
                          null while a /hang request is held
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

LOCK = threading.Lock()
SECRETS = {}
RECEIVED = []
SEEN = {}  # (path, webhook-id) -> deliveries so far
RELEASE = threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length)

    def do_GET(self):
        if self.path == "/_control/received":
            with LOCK:
                body = json.dumps(RECEIVED).encode()
            self._answer(200, body, [("Content-Type", "application/json")])
        else:
            self._answer(404)

    def do_PUT(self):
        if self.path == "/_control/secrets":
            with LOCK:
                SECRETS.clear()
                SECRETS.update(json.loads(self._body()))
            self._answer(204)
        else:
            self._answer(404)

    def do_POST(self):
        raw = self._body()
        headers = {k: v for k, v in self.headers.items()}
        verified = {}
        with LOCK:
            secrets = dict(SECRETS)
        for label, secret in secrets.items():
            try:
                Webhook(secret).verify(raw, headers)
                verified[label] = True
            except WebhookVerificationError:
                verified[label] = False
        msg_id = self.headers.get("webhook-id")
        try:
            event_type = json.loads(raw).get("type")
        except ValueError:
            event_type = None
        record = {
            "path": self.path,
            "id": msg_id,
            "timestamp": self.headers.get("webhook-timestamp"),
            "signature": self.headers.get("webhook-signature"),
            "type": event_type,
            "body": raw.decode("utf-8", "replace"),
            "verified": verified,
            "status": None,
        }
        with LOCK:
            RECEIVED.append(record)
            key = (self.path, msg_id)
            SEEN[key] = SEEN.get(key, 0) + 1
            nth = SEEN[key]
        status, extra = self._status(nth)
        if status is None:
            # Held open: the sender is killed meanwhile; answer only at shutdown.
            RELEASE.wait(120)
            status = 500
        with LOCK:
            record["status"] = status
        self._answer(status, b"answer from the receiver", extra)

    def _status(self, nth):
        path = self.path
        if path == "/ok":
            return 200, []
        if path.startswith("/fail/"):
            return (500 if nth <= int(path.split("/")[2]) else 200), []
        if path == "/redirect":
            return 302, [("Location", "/ok")]
        if path == "/gone":
            return 410, []
        if path == "/hang":
            return (None if nth == 1 else 200), []
        return 404, []


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        RELEASE.set()


if __name__ == "__main__":
    sys.exit(main())
