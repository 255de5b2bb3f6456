"""A real third-party OAuth client (Authlib + requests) against a running Tessera.

Drives the authorization-code flow with PKCE as an app would: discovery, a browser session
that signs in and approves consent by submitting the server's own HTML forms, the code
exchange with client_secret_basic, offline verification of the JWT access token against the
JWKS alone, a refresh with rotation, and introspection. Exits non-zero on any failure.

usage: authlib_client.py BASE CLIENT_ID CLIENT_SECRET REDIRECT_URI USERNAME PASSWORD
"""

import json
import sys
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlparse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt


class FormParser(HTMLParser):
    """The page's form: its action and every named input (hidden ones carry the CSRF token)."""

    def __init__(self):
        super().__init__()
        self.action = None
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = a.get("action")
        elif tag == "input" and a.get("name") and a.get("type") == "hidden":
            self.fields[a["name"]] = a.get("value", "")


def form_of(html):
    p = FormParser()
    p.feed(html)
    assert p.action, "no form on the page"
    return p.action, p.fields


def main():
    base, client_id, client_secret, redirect_uri, username, password = sys.argv[1:7]
    meta = requests.get(base + "/.well-known/oauth-authorization-server", timeout=10).json()
    assert meta["code_challenge_methods_supported"] == ["S256"]

    client = OAuth2Session(
        client_id,
        client_secret,
        scope="claims:read",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(64)
    url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)

    browser = requests.Session()
    page = browser.get(url, allow_redirects=False, timeout=10)
    assert page.status_code == 200, page.status_code
    action, fields = form_of(page.text)
    fields.update(username=username, password=password)
    signed_in = browser.post(urljoin(base, action), data=fields, allow_redirects=False, timeout=30)
    assert signed_in.status_code == 303, signed_in.status_code
    consent = browser.get(urljoin(base, signed_in.headers["Location"]), allow_redirects=False, timeout=10)
    assert consent.status_code == 200, consent.status_code
    action, fields = form_of(consent.text)
    fields["decision"] = "approve"
    approved = browser.post(urljoin(base, action), data=fields, allow_redirects=False, timeout=10)
    assert approved.status_code == 303, approved.status_code
    callback = approved.headers["Location"]
    params = parse_qs(urlparse(callback).query)
    assert params["iss"] == [meta["issuer"]], params  # RFC 9207
    assert params["state"] == [state]

    token = client.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    assert token["token_type"].lower() == "bearer" and token["expires_in"] == 3600

    # A resource server's view: the JWKS alone verifies the access token.
    keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    claims = jwt.decode(token["access_token"], keys, claims_options={"iss": {"essential": True, "value": meta["issuer"]}})
    claims.validate(now=int(time.time()))
    assert claims.header["typ"] == "at+jwt"
    assert claims["client_id"] == client_id and claims["scope"] == "claims:read"
    assert claims["exp"] - claims["iat"] == 3600

    refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"], "refresh tokens rotate"
    reused = requests.post(
        meta["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(client_id, client_secret),
        timeout=10,
    )
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    introspected = requests.post(
        meta["introspection_endpoint"],
        data={"token": refreshed["access_token"]},
        auth=(client_id, client_secret),
        timeout=10,
    ).json()
    # The reuse above revoked the family, the new access token with it.
    assert introspected == {"active": False}, introspected
    print(json.dumps({"ok": True, "authlib_flow": "complete"}))


if __name__ == "__main__":
    main()
