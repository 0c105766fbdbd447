"""The OpenID Connect provider end to end, driven by an independent client library (Authlib's
OAuth2Session over requests) against the live server: discovery, sign-in through /login/, consent
once, authorization code with PKCE (S256 only), the ID token checked against the JWKS, userinfo,
refresh with rotation and reuse detection, revocation, introspection, RP-initiated logout, and
back-channel logout received by a second application's own HTTP server on loopback.

The redirect URIs point at a loopback port nobody serves: the tests read the ``Location`` header
instead of following it, as a browser would hand the code to the application."""

from __future__ import annotations

import http.server
import re
import secrets
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

with warnings.catch_warnings():  # authlib.jose moves to joserfc; it works until Authlib 2.0
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, jwt
    from authlib.oidc.core import CodeIDToken
from django.core.cache import cache

from tests.conftest import CITIZEN_PASSWORD
from tests.messaging_support import drain
from tongban.identity.models import AppSignIn, BackchannelLogout, LoginSession, OidcApplication
from tongban.identity.sessions import LOGOUT_EVENT

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # Authlib announces that authlib.jose moves to joserfc; it still works until Authlib 2.0.
    pytest.mark.filterwarnings("ignore:authlib.jose module is deprecated"),
]

REDIRECT_A = "http://127.0.0.1:9/app-a/callback"
REDIRECT_B = "http://127.0.0.1:9/app-b/callback"
LOGGED_OUT_A = "http://127.0.0.1:9/app-a/logged-out"


@pytest.fixture(autouse=True)
def _provider(live_server, settings, monkeypatch):
    """The issuer is the live server (PUBLIC_BASE_URL in production); Authlib may talk plain HTTP
    to loopback; sign-in rate limits start at zero; a failed back-channel notice is retried at once."""
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": f"{live_server.url}/o"}
    settings.MESSAGING_RETRY_SECONDS = 0
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    cache.clear()
    yield
    cache.clear()


# The live server keeps a thread, and with it a database connection, per kept-alive HTTP
# connection: every session a test opens is closed after it, so PostgreSQL can drop the test database.
_OPEN: list[requests.Session] = []


def opened(session: Any) -> Any:
    _OPEN.append(session)
    return session


@pytest.fixture(autouse=True)
def _close_http_sessions() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.fixture
def person(citizen):
    citizen.real_name_level = 2
    citizen.save(update_fields=["real_name_level"])
    return citizen


@dataclass
class App:
    record: OidcApplication
    secret: str
    redirect_uri: str

    @property
    def client_id(self) -> str:
        return self.record.client_id

    def session(self, scope: str = "openid profile phone") -> OAuth2Session:
        oauth = OAuth2Session(
            self.client_id,
            self.secret,
            scope=scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
        )
        return opened(oauth)


def register(name: str, redirect_uri: str, *, backchannel_logout_uri: str = "", post_logout: str = "") -> App:
    secret = secrets.token_urlsafe(32)
    record = OidcApplication.objects.create(
        name=name,
        client_type=OidcApplication.CLIENT_CONFIDENTIAL,
        authorization_grant_type=OidcApplication.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uri,
        post_logout_redirect_uris=post_logout,
        algorithm=OidcApplication.RS256_ALGORITHM,
        client_secret=secret,  # hashed on save; the application keeps the plain one
        allowed_scopes="openid profile phone",
        backchannel_logout_uri=backchannel_logout_uri,
    )
    return App(record, secret, redirect_uri)


class _Forms(HTMLParser):
    """Each form of a page: its named inputs (name -> (type, value))."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, tuple[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.forms.append({})
        elif tag == "input" and found.get("name") and self.forms:
            self.forms[-1][found["name"] or ""] = (found.get("type") or "text", found.get("value") or "")


def form_inputs(html: str, having: str = "") -> dict[str, str]:
    """The hidden inputs (CSRF token included) of the first form that has an input named ``having``."""
    parser = _Forms()
    parser.feed(html)
    form = next(f for f in parser.forms if not having or having in f)
    return {name: value for name, (kind, value) in form.items() if kind == "hidden"}


def signed_in_browser(base: str, username: str = "zhangxm") -> requests.Session:
    """A browser that signed in through the password form (CSRF cookie and token from the form)."""
    browser = opened(requests.Session())
    page = browser.get(f"{base}/login/")
    assert page.status_code == 200
    hidden = form_inputs(page.text, having="password")
    assert hidden["csrfmiddlewaretoken"] and browser.cookies.get("csrftoken")
    answer = browser.post(
        f"{base}/login/",
        data={**hidden, "username": username, "password": CITIZEN_PASSWORD, "next": "/"},
        headers={"Referer": f"{base}/login/"},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:500]
    return browser


def discovery(base: str) -> dict[str, Any]:
    answer = requests.get(f"{base}/o/.well-known/openid-configuration", timeout=10)
    assert answer.status_code == 200
    return answer.json()


def jwks(meta: dict[str, Any]) -> Any:
    return JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())


@dataclass
class Authorized:
    location: str
    code: str
    verifier: str
    nonce: str
    state: str
    consent_shown: bool


def authorize(browser: requests.Session, meta: dict[str, Any], app: App, oauth: OAuth2Session) -> Authorized:
    """The authorization request with PKCE S256 and a nonce; consent is given if it is asked."""
    verifier, nonce = generate_token(48), generate_token(20)
    url, state = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    answer = browser.get(url, allow_redirects=False)
    consent_shown = answer.status_code == 200
    if consent_shown:
        assert "请求使用您的通办账号登录" in answer.text, answer.text[:500]
        fields = form_inputs(answer.text, having="client_id")
        assert fields["code_challenge_method"] == "S256" and fields["nonce"] == nonce
        answer = browser.post(
            meta["authorization_endpoint"],
            data={**fields, "allow": "Authorize"},
            headers={"Referer": url},
            allow_redirects=False,
        )
    assert answer.status_code == 302, (answer.status_code, answer.text[:500])
    location = answer.headers["Location"]
    assert location.startswith(app.redirect_uri + "?"), location
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    return Authorized(location, query["code"][0], verifier, nonce, state, consent_shown)


def id_token_claims(meta: dict[str, Any], app: App, token: dict[str, Any], nonce: str) -> dict[str, Any]:
    """Validate the ID token as a relying party must: signature (JWKS), iss, aud, exp, iat, nonce, at_hash."""
    claims = jwt.decode(
        token["id_token"],
        jwks(meta),
        claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "value": meta["issuer"]}, "acr": {"essential": True}},
        claims_params={"nonce": nonce, "client_id": app.client_id, "access_token": token["access_token"]},
    )
    claims.validate(leeway=5)
    return dict(claims)


def sign_in_to(browser: requests.Session, meta: dict[str, Any], app: App) -> tuple[OAuth2Session, dict[str, Any], dict[str, Any]]:
    oauth = app.session()
    grant = authorize(browser, meta, app, oauth)
    token = oauth.fetch_token(
        meta["token_endpoint"], authorization_response=grant.location, state=grant.state, code_verifier=grant.verifier
    )
    return oauth, token, id_token_claims(meta, app, token, grant.nonce)


def token_post(meta: dict[str, Any], app: App, **data: str) -> requests.Response:
    return requests.post(meta["token_endpoint"], data=data, auth=(app.client_id, app.secret), timeout=10)


def introspect(app: App, base: str, token: str) -> dict[str, Any]:
    answer = requests.post(f"{base}/o/introspect/", data={"token": token}, auth=(app.client_id, app.secret), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_discovery_publishes_the_provider(live_server):
    meta = discovery(live_server.url)
    base = f"{live_server.url}/o"
    assert meta["issuer"] == base
    assert meta["authorization_endpoint"] == f"{base}/authorize/"
    assert meta["token_endpoint"] == f"{base}/token/"
    assert meta["userinfo_endpoint"] == f"{base}/userinfo/"
    assert meta["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert meta["end_session_endpoint"] == f"{base}/logout/"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["id_token_signing_alg_values_supported"][0] == "RS256"
    assert {"sub", "sid", "acr", "name", "phone_number", "act"} <= set(meta["claims_supported"])
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    keys = requests.get(meta["jwks_uri"], timeout=10).json()["keys"]
    assert keys and all(k["kty"] == "RSA" and k["alg"] == "RS256" and k["use"] == "sig" and "d" not in k for k in keys)


def test_sign_in_consent_once_tokens_userinfo_refresh_revoke_and_introspect(live_server, person):
    base = live_server.url
    meta = discovery(base)
    app = register("不动产登记系统", REDIRECT_A)
    browser = signed_in_browser(base)

    # First sign-in: the consent page, then the code; the token exchange proves PKCE.
    oauth = app.session()
    grant = authorize(browser, meta, app, oauth)
    assert grant.consent_shown
    token = oauth.fetch_token(
        meta["token_endpoint"], authorization_response=grant.location, state=grant.state, code_verifier=grant.verifier
    )
    assert token["token_type"] == "Bearer" and set(token["scope"].split()) == {"openid", "profile", "phone"}
    claims = id_token_claims(meta, app, token, grant.nonce)
    login = LoginSession.objects.get(account=person, ended_at=None)
    assert claims["sub"] == str(person.public_id) and claims["sub"] != str(person.pk)
    assert claims["aud"] == app.client_id
    assert claims["acr"] == "urn:tongban:loa:L2"
    assert claims["sid"] == str(login.public_id)
    assert claims["name"] == "张**"
    assert claims["phone_number"] == "138****5678"
    assert "id_number" not in claims and "act" not in claims
    assert AppSignIn.objects.filter(login_session=login, application=app.record).exists()

    # The code is single use.
    again = token_post(
        meta, app, grant_type="authorization_code", code=grant.code, redirect_uri=app.redirect_uri, code_verifier=grant.verifier
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    # Second sign-in: consent is remembered, the code comes straight back.
    second = authorize(browser, meta, app, app.session())
    assert not second.consent_shown

    # Userinfo: the same person, masked.
    info = oauth.get(meta["userinfo_endpoint"]).json()
    assert info["sub"] == claims["sub"]
    assert info["acr"] == "urn:tongban:loa:L2" and info["sid"] == claims["sid"]
    assert info["name"] == "张**" and info["phone_number"] == "138****5678"
    assert "13812345678" not in str(info) and "张晓明" not in str(info)

    # Refresh rotates both tokens; the old access token stops working.
    first = dict(token)
    refreshed = oauth.refresh_token(meta["token_endpoint"], refresh_token=first["refresh_token"])
    assert refreshed["refresh_token"] != first["refresh_token"] and refreshed["access_token"] != first["access_token"]
    assert introspect(app, base, first["access_token"]) == {"active": False}
    live = introspect(app, base, refreshed["access_token"])
    assert live["active"] is True and live["client_id"] == app.client_id and live["sub"] == str(person.public_id)
    assert "username" not in live  # the sign-in name is not the application's business
    refreshed_claims = id_token_claims(meta, app, refreshed, grant.nonce) if "nonce" in refreshed else None
    if refreshed_claims:
        assert refreshed_claims["sid"] == claims["sid"]

    # Reusing the rotated-away refresh token fails and revokes the whole family.
    reuse = token_post(meta, app, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    after = token_post(meta, app, grant_type="refresh_token", refresh_token=refreshed["refresh_token"])
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"

    # A fresh pair, then revocation (RFC 7009): introspection and userinfo see it gone.
    fresh_grant = authorize(browser, meta, app, oauth)
    fresh = oauth.fetch_token(
        meta["token_endpoint"], authorization_response=fresh_grant.location, state=fresh_grant.state, code_verifier=fresh_grant.verifier
    )
    assert introspect(app, base, fresh["access_token"])["active"] is True
    assert oauth.revoke_token(f"{base}/o/revoke_token/", token=fresh["access_token"], token_type_hint="access_token").status_code == 200
    assert introspect(app, base, fresh["access_token"]) == {"active": False}
    assert (
        requests.get(meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {fresh['access_token']}"}, timeout=10).status_code == 401
    )
    assert oauth.revoke_token(f"{base}/o/revoke_token/", token=fresh["refresh_token"], token_type_hint="refresh_token").status_code == 200
    gone = token_post(meta, app, grant_type="refresh_token", refresh_token=fresh["refresh_token"])
    assert gone.status_code == 400 and gone.json()["error"] == "invalid_grant"


def test_introspection_answers_only_the_application_the_token_was_issued_to(live_server, person):
    base = live_server.url
    meta = discovery(base)
    app = register("不动产登记系统", REDIRECT_A)
    other = register("另一个应用", REDIRECT_B)
    browser = signed_in_browser(base)
    _oauth, token, _claims = sign_in_to(browser, meta, app)
    assert introspect(app, base, token["access_token"])["active"] is True
    assert introspect(other, base, token["access_token"]) == {"active": False}
    anonymous = requests.post(f"{base}/o/introspect/", data={"token": token["access_token"]}, timeout=10)
    assert anonymous.status_code in (401, 403)
    in_the_address = requests.get(
        f"{base}/o/introspect/", params={"token": token["access_token"]}, auth=(app.client_id, app.secret), timeout=10
    )
    assert in_the_address.status_code == 405  # tokens never travel in URLs (and so in access logs)


def test_pkce_is_required_and_only_s256(live_server, person):
    base = live_server.url
    meta = discovery(base)
    app = register("不动产登记系统", REDIRECT_A)
    browser = signed_in_browser(base)
    common = {"response_type": "code", "client_id": app.client_id, "redirect_uri": app.redirect_uri, "scope": "openid", "state": "s1"}

    def refused(params: dict[str, str]) -> dict[str, list[str]]:
        answer = browser.get(meta["authorization_endpoint"], params=params, allow_redirects=False)
        assert answer.status_code == 302, answer.status_code
        location = answer.headers["Location"]
        assert location.startswith(app.redirect_uri + "?")
        query = parse_qs(urlsplit(location).query)
        assert "code" not in query
        return query

    # No PKCE at all.
    assert refused(common)["error"] == ["invalid_request"]
    # PKCE "plain": the verifier would be the challenge itself.
    plain = refused({**common, "code_challenge": generate_token(48), "code_challenge_method": "plain"})
    assert plain["error"] == ["invalid_request"]
    # A challenge without a method means plain (RFC 7636 4.3): refused too.
    assert refused({**common, "code_challenge": generate_token(48)})["error"] == ["invalid_request"]

    # With S256 the code comes, and the token endpoint insists on the right verifier.
    oauth = app.session()
    grant = authorize(browser, meta, app, oauth)
    wrong = token_post(
        meta, app, grant_type="authorization_code", code=grant.code, redirect_uri=app.redirect_uri, code_verifier=generate_token(48)
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    grant = authorize(browser, meta, app, oauth)
    missing = token_post(meta, app, grant_type="authorization_code", code=grant.code, redirect_uri=app.redirect_uri)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    token = oauth.fetch_token(
        meta["token_endpoint"], authorization_response=grant.location, state=grant.state, code_verifier=grant.verifier
    )
    assert token["access_token"]
    with pytest.raises(OAuthError, match="invalid_grant"):  # and only once
        oauth.fetch_token(meta["token_endpoint"], authorization_response=grant.location, state=grant.state, code_verifier=grant.verifier)


@dataclass
class LogoutReceiver:
    """Application B's back-channel logout endpoint: a real HTTP server on loopback that answers
    with the given statuses in turn (then 200) and keeps what it was sent."""

    statuses: list[int]
    received: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[LogoutReceiver]:
    box = LogoutReceiver(statuses=[500])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            box.received.append({"path": self.path, "content_type": self.headers.get("Content-Type"), "form": parse_qs(body)})
            status = box.statuses.pop(0) if box.statuses else 200
            self.send_response(status)
            self.send_header("Cache-Control", "no-store")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.url = f"http://127.0.0.1:{server.server_address[1]}/backchannel-logout"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


def test_rp_initiated_logout_reaches_the_other_application_by_back_channel(live_server, person, receiver):
    base = live_server.url
    meta = discovery(base)
    app_a = register("不动产登记系统", REDIRECT_A, post_logout=LOGGED_OUT_A)
    app_b = register("公积金系统", REDIRECT_B, backchannel_logout_uri=receiver.url)
    browser = signed_in_browser(base)
    assert browser.get(f"{base}/my/messages/", allow_redirects=False).status_code == 200

    _oauth_a, token_a, claims_a = sign_in_to(browser, meta, app_a)
    oauth_b, token_b, claims_b = sign_in_to(browser, meta, app_b)
    assert claims_a["sid"] == claims_b["sid"]  # one platform sign-in, two applications
    assert introspect(app_b, base, token_b["access_token"])["active"] is True

    # RP-initiated logout from A, with its ID token and its registered post-logout address.
    answer = browser.get(
        meta["end_session_endpoint"],
        params={"id_token_hint": token_a["id_token"], "post_logout_redirect_uri": LOGGED_OUT_A, "state": "bye"},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:500]
    assert answer.headers["Location"] == f"{LOGGED_OUT_A}?state=bye"

    # The person's platform session ended: their own pages ask them to sign in again.
    mine = browser.get(f"{base}/my/messages/", allow_redirects=False)
    assert mine.status_code == 302 and mine.headers["Location"].startswith("/login/")
    assert LoginSession.objects.get(public_id=claims_a["sid"]).ended_at is not None
    # B's tokens were revoked with the session.
    assert introspect(app_b, base, token_b["access_token"]) == {"active": False}
    refused = token_post(meta, app_b, grant_type="refresh_token", refresh_token=token_b["refresh_token"])
    assert refused.status_code == 400

    # The worker delivers B's logout token; B answers 500 first, so it is retried, then 200.
    notice = BackchannelLogout.objects.get(application=app_b.record)
    assert not BackchannelLogout.objects.filter(application=app_a.record).exists()  # A has no back-channel URI
    assert drain(["callbacks"]) >= 2
    notice.refresh_from_db()
    assert (notice.state, notice.attempts) == (BackchannelLogout.State.DONE, 2)
    assert len(receiver.received) == 2
    keys = jwks(meta)
    tokens = []
    for post in receiver.received:
        assert post["path"] == "/backchannel-logout"
        assert post["content_type"] == "application/x-www-form-urlencoded"
        raw = post["form"]["logout_token"][0]
        header = jwt.decode(raw, keys).header  # signature checked against the published keys
        assert header["alg"] == "RS256" and header["typ"] == "logout+jwt"
        claims = jwt.decode(raw, keys, claims_options={"iss": {"essential": True, "value": meta["issuer"]}})
        claims.validate(leeway=5)
        assert claims["aud"] == app_b.client_id
        assert claims["sid"] == claims_a["sid"] and claims["sub"] == claims_a["sub"]
        assert claims["events"] == {LOGOUT_EVENT: {}}
        assert "nonce" not in claims and claims["jti"]
        tokens.append(claims["jti"])
    assert len(set(tokens)) == 2  # each attempt is a fresh token

    # Nothing more is owed.
    assert drain(["callbacks"]) == 0
    assert len(receiver.received) == 2
    # And the logged-out browser's next authorization request goes to sign-in first.
    oauth_b.token = None
    verifier = generate_token(48)
    url, _state = app_b.session().create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce="n")
    answer = browser.get(url, allow_redirects=False)
    assert answer.status_code == 302 and re.match(r"^/login/\?next=", answer.headers["Location"])
