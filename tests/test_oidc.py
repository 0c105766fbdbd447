"""The OpenID Connect provider through Django's test client: who may call each endpoint, the
client-credentials grant, scopes limited to what an application was registered with, the full ID
number only for an application with a recorded reason (audited per disclosure), the ``act`` claim
of a mandate and what revoking the mandate does, consent revocation, and signing-key rotation with
``tongban oidc-keys``. tests/test_oidc_e2e.py drives the same provider with an independent client."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from jwcrypto import jwk, jwt

from tests.conftest import CITIZEN_PASSWORD
from tongban.common.models import AuditEvent
from tongban.identity import consents, sessions
from tongban.identity.models import Consent, Enterprise, LoginSession, Mandate, OidcApplication, TokenMandate

REDIRECT = "http://127.0.0.1:9/callback"
TOKEN = "/o/token/"
AUTHORIZE = "/o/authorize/"
INTROSPECT = "/o/introspect/"
USERINFO = "/o/userinfo/"
JWKS = "/o/.well-known/jwks.json"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def client() -> Client:
    return Client()


def register(
    name: str = "不动产登记系统",
    *,
    grant: str = OidcApplication.GRANT_AUTHORIZATION_CODE,
    scopes: str = "openid profile phone",
    id_number_reason: str = "",
) -> tuple[OidcApplication, str]:
    secret = secrets.token_urlsafe(32)
    app = OidcApplication.objects.create(
        name=name,
        client_type=OidcApplication.CLIENT_CONFIDENTIAL,
        authorization_grant_type=grant,
        redirect_uris=REDIRECT if grant == OidcApplication.GRANT_AUTHORIZATION_CODE else "",
        algorithm=OidcApplication.RS256_ALGORITHM,
        client_secret=secret,
        allowed_scopes=scopes,
        id_number_reason=id_number_reason,
    )
    return app, secret


def basic(app: OidcApplication, secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()}


def sign_in(client: Client, username: str = "zhangxm") -> LoginSession:
    answer = client.post("/login/", {"username": username, "password": CITIZEN_PASSWORD, "next": "/"})
    assert answer.status_code == 302, answer.content[:300]
    return LoginSession.objects.filter(account__username=username, ended_at=None).latest("created_at")


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(client: Client, app: OidcApplication, scope: str, *, consent: bool | None = None) -> tuple[str, str]:
    """Ask for a code (PKCE S256); give consent when the page asks. Returns (code, verifier).
    ``consent`` True/False asserts whether the consent page was shown."""
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "st",
        "nonce": "nn",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    answer = client.get(AUTHORIZE, params)
    shown = answer.status_code == 200
    if consent is not None:
        assert shown is consent, answer.status_code
    if shown:
        form = {k: v for k, v in params.items() if k != "code_challenge_method"} | {"code_challenge_method": "S256", "allow": "Authorize"}
        answer = client.post(AUTHORIZE, form)
    assert answer.status_code == 302, answer.content[:500]
    query = parse_qs(urlsplit(answer["Location"]).query)
    assert "code" in query, answer["Location"]
    return query["code"][0], verifier


def exchange(client: Client, app: OidcApplication, secret: str, code: str, verifier: str) -> dict[str, Any]:
    answer = client.post(
        TOKEN,
        {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier},
        **basic(app, secret),
    )
    assert answer.status_code == 200, answer.content
    return answer.json()


def signed_in_token(client: Client, app: OidcApplication, secret: str, scope: str) -> dict[str, Any]:
    code, verifier = authorize(client, app, scope)
    return exchange(client, app, secret, code, verifier)


def jwks_set(client: Client) -> jwk.JWKSet:
    return jwk.JWKSet.from_json(client.get(JWKS).content)


def verified_claims(client: Client, raw: str) -> dict[str, Any]:
    """Checked against the published JWKS, the key chosen by the token's kid."""
    return json.loads(jwt.JWT(jwt=raw, key=jwks_set(client), expected_type="JWS").claims)


def introspect(client: Client, app: OidcApplication, secret: str, token: str) -> dict[str, Any]:
    answer = client.post(INTROSPECT, {"token": token}, **basic(app, secret))
    assert answer.status_code == 200, answer.content
    return answer.json()


# --- who may call what ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_each_endpoint_authenticates_by_the_protocol(client, citizen):
    app, secret = register()
    _verifier, challenge = pkce()
    query = urlencode(
        {"response_type": "code", "client_id": app.client_id, "redirect_uri": REDIRECT, "scope": "openid", "code_challenge": challenge}
    )
    # authorize: the person's session, else off to sign in and back.
    answer = client.get(f"{AUTHORIZE}?{query}")
    assert answer.status_code == 302 and answer["Location"].startswith("/login/?next=")
    # token, revocation and introspection: client authentication.
    assert client.post(TOKEN, {"grant_type": "client_credentials"}).status_code == 401
    assert client.post(TOKEN, {"grant_type": "client_credentials"}, **basic(app, "wrong")).status_code == 401
    assert client.post("/o/revoke_token/", {"token": "x"}).status_code == 401
    assert client.post(INTROSPECT, {"token": "x"}).status_code in (401, 403)
    assert client.post(INTROSPECT, {"token": "x"}, **basic(app, "wrong")).status_code in (401, 403)
    assert client.post(INTROSPECT, {"token": "x"}, **basic(app, secret)).json() == {"active": False}
    # userinfo: a bearer token.
    assert client.get(USERINFO).status_code == 401
    assert client.get(USERINFO, HTTP_AUTHORIZATION="Bearer nonsense").status_code == 401
    # discovery and keys: public by design, and never a private part of a key.
    assert client.get("/o/.well-known/openid-configuration").status_code == 200
    assert all("d" not in key for key in client.get(JWKS).json()["keys"])


@pytest.mark.django_db
def test_a_wrong_client_secret_is_never_remembered(client):
    app, secret = register("部门系统", grant=OidcApplication.GRANT_CLIENT_CREDENTIALS, scopes="messages")
    ask = {"grant_type": "client_credentials", "scope": "messages"}
    for _ in range(2):
        assert client.post(TOKEN, ask, **basic(app, secret + "x")).status_code == 401
    assert client.post(TOKEN, ask, **basic(app, secret)).status_code == 200
    assert client.post(TOKEN, ask, **basic(app, secret)).status_code == 200  # remembered in this process
    assert client.post(TOKEN, ask, **basic(app, secret + "x")).status_code == 401
    # A new secret replaces the old one at once, in this process too.
    new = "a-new-secret-" + secrets.token_urlsafe(24)
    app.client_secret = new
    app.save()
    assert client.post(TOKEN, ask, **basic(app, secret)).status_code == 401
    assert client.post(TOKEN, ask, **basic(app, new)).status_code == 200


# --- client credentials and scopes -------------------------------------------------------------------


@pytest.mark.django_db
def test_client_credentials_grant(client):
    app, secret = register("公安审批系统", grant=OidcApplication.GRANT_CLIENT_CREDENTIALS, scopes="messages")
    answer = client.post(TOKEN, {"grant_type": "client_credentials", "scope": "messages"}, **basic(app, secret))
    assert answer.status_code == 200, answer.content
    token = answer.json()
    assert token["token_type"] == "Bearer" and token["scope"] == "messages" and token["expires_in"] == 600
    assert "refresh_token" not in token and "id_token" not in token  # nobody signed in
    seen = introspect(client, app, secret, token["access_token"])
    assert seen["active"] is True and seen["client_id"] == app.client_id and seen["scope"] == "messages"
    assert "sub" not in seen and "username" not in seen
    # Without a scope the application gets none of the person scopes it may not have.
    bare = client.post(TOKEN, {"grant_type": "client_credentials"}, **basic(app, secret))
    assert bare.status_code == 400 and bare.json()["error"] == "invalid_scope"
    # A code-flow application may not use this grant.
    web, web_secret = register()
    refused = client.post(TOKEN, {"grant_type": "client_credentials", "scope": "openid"}, **basic(web, web_secret))
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"


@pytest.mark.django_db
def test_scopes_are_limited_to_what_the_application_was_registered_with(client, citizen):
    system, secret = register("公安审批系统", grant=OidcApplication.GRANT_CLIENT_CREDENTIALS, scopes="messages")
    more = client.post(TOKEN, {"grant_type": "client_credentials", "scope": "messages profile"}, **basic(system, secret))
    assert more.status_code == 400 and more.json()["error"] == "invalid_scope"
    unknown = client.post(TOKEN, {"grant_type": "client_credentials", "scope": "messages everything"}, **basic(system, secret))
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_scope"

    app, _secret = register(scopes="openid profile")
    sign_in(client)
    _verifier, challenge = pkce()
    answer = client.get(
        AUTHORIZE,
        {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid profile phone",
            "state": "st",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer["Location"]).query)
    assert query["error"] == ["invalid_scope"] and query["state"] == ["st"] and "code" not in query
    assert not Consent.objects.exists()


@pytest.mark.django_db
def test_the_id_number_only_for_an_application_with_a_reason_and_each_disclosure_audited(client, citizen):
    sign_in(client)
    # Registered with the scope but without a recorded reason: refused.
    careless, _ = register("随便的应用", scopes="openid profile id_number")
    _verifier, challenge = pkce()
    answer = client.get(
        AUTHORIZE,
        {
            "response_type": "code",
            "client_id": careless.client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid id_number",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert parse_qs(urlsplit(answer["Location"]).query)["error"] == ["invalid_scope"]

    reason = "不动产登记需核验申请人身份（《不动产登记暂行条例》第十六条）"
    app, secret = register("不动产登记系统", scopes="openid profile id_number", id_number_reason=reason)
    disclosures = AuditEvent.objects.filter(action="identity.id_number_disclosed", object_id=str(citizen.public_id))
    token = signed_in_token(client, app, secret, "openid profile id_number")
    claims = verified_claims(client, token["id_token"])
    assert claims["id_number"] == "11010519491231002X"
    assert disclosures.count() == 1
    info = client.get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {token['access_token']}").json()
    assert info["id_number"] == "11010519491231002X"
    assert disclosures.count() == 2
    event = disclosures.first()
    assert event.reason == reason and event.after == {"application": "不动产登记系统"}

    # The same application without the scope this time: nothing disclosed, nothing recorded.
    plain = signed_in_token(client, app, secret, "openid profile")
    assert "id_number" not in verified_claims(client, plain["id_token"])
    assert "id_number" not in client.get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {plain['access_token']}").json()
    assert disclosures.count() == 2


# --- mandates ----------------------------------------------------------------------------------------


@pytest.fixture
def mandate(citizen) -> Mandate:
    company = Enterprise.objects.create(
        credit_code="91360100MA35XXXX1X", name="南昌晓明科技有限公司", legal_rep_name="张晓明", legal_rep_id_index="x"
    )
    return Mandate.objects.create(
        enterprise=company,
        grantee=citizen,
        role=Mandate.Role.AGENT,
        scope=Mandate.Scope.PRECISE,
        items=["070700101000"],
        valid_from=timezone.now() - timedelta(days=1),
        valid_until=timezone.now() + timedelta(days=30),
    )


@pytest.mark.django_db
def test_act_claim_under_a_mandate_and_revoking_the_mandate_ends_its_tokens(client, citizen, mandate):
    login = sign_in(client)
    LoginSession.objects.filter(pk=login.pk).update(acting_mandate=mandate)
    app, secret = register("企业开办系统", scopes="openid profile enterprise")
    token = signed_in_token(client, app, secret, "openid profile enterprise")
    claims = verified_claims(client, token["id_token"])
    assert claims["act"] == {
        "enterprise": "91360100MA35XXXX1X",
        "enterprise_name": "南昌晓明科技有限公司",
        "mandate": str(mandate.public_id),
        "role": "agent",
        "scope": "precise",
        "items": ["070700101000"],
        "valid_until": mandate.valid_until.isoformat(),
    }
    assert client.get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {token['access_token']}").json()["act"] == claims["act"]
    assert TokenMandate.objects.filter(mandate=mandate).count() == 1
    assert introspect(client, app, secret, token["access_token"])["active"] is True

    mandate.revoked_at = timezone.now()
    mandate.revoke_reason = "经办人离职"
    mandate.save(update_fields=["revoked_at", "revoke_reason"])
    assert sessions.tokens_revoke_for_mandate(mandate) == 1
    assert introspect(client, app, secret, token["access_token"]) == {"active": False}
    assert client.get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {token['access_token']}").status_code == 401
    refresh = client.post(TOKEN, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}, **basic(app, secret))
    assert refresh.status_code == 400


@pytest.mark.django_db
def test_a_revoked_mandate_stops_its_tokens_before_any_sweep(client, citizen, mandate):
    login = sign_in(client)
    LoginSession.objects.filter(pk=login.pk).update(acting_mandate=mandate)
    app, secret = register("企业开办系统", scopes="openid enterprise")
    token = signed_in_token(client, app, secret, "openid enterprise")
    Mandate.objects.filter(pk=mandate.pk).update(revoked_at=timezone.now())  # no tokens_revoke_for_mandate yet
    assert introspect(client, app, secret, token["access_token"]) == {"active": False}
    assert client.get(USERINFO, HTTP_AUTHORIZATION=f"Bearer {token['access_token']}").status_code == 401
    # A session acting for no one gets no act claim (scope "enterprise" or not).
    LoginSession.objects.filter(pk=login.pk).update(acting_mandate=None)
    plain = signed_in_token(client, app, secret, "openid enterprise")
    assert verified_claims(client, plain["id_token"]).get("act") is None
    assert introspect(client, app, secret, plain["access_token"])["active"] is True


# --- consent -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_consent_is_remembered_until_revoked(client, citizen):
    sign_in(client)
    app, secret = register()
    token = signed_in_token(client, app, secret, "openid profile")
    authorize(client, app, "openid profile", consent=False)
    authorize(client, app, "openid", consent=False)  # fewer scopes: covered
    authorize(client, app, "openid profile phone", consent=True)  # more: asked again
    authorize(client, app, "openid profile", consent=False)
    assert Consent.objects.filter(account=citizen, application=app, revoked_at=None).count() == 2

    assert consents.revoke(account=citizen, application=app) == 2
    assert introspect(client, app, secret, token["access_token"]) == {"active": False}
    authorize(client, app, "openid profile", consent=True)


@pytest.mark.django_db
def test_prompt_consent_asks_again_and_prompt_none_never_shows_a_page(client, citizen):
    sign_in(client)
    app, _secret = register()
    _verifier, challenge = pkce()
    base = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "st",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    none = client.get(AUTHORIZE, {**base, "prompt": "none"})
    assert none.status_code == 302 and parse_qs(urlsplit(none["Location"]).query)["error"] == ["consent_required"]
    authorize(client, app, "openid", consent=True)
    assert client.get(AUTHORIZE, {**base, "prompt": "consent"}).status_code == 200
    # An earlier token does not stand in for consent (django-oauth-toolkit's "auto" approval).
    assert client.get(AUTHORIZE, {**base, "prompt": "consent", "approval_prompt": "auto"}).status_code == 200
    silent = client.get(AUTHORIZE, {**base, "prompt": "none"})
    assert silent.status_code == 302 and "code" in parse_qs(urlsplit(silent["Location"]).query)


@pytest.mark.django_db
def test_plain_pkce_is_refused_before_the_consent_page_and_after_it(client, citizen):
    sign_in(client)
    app, _secret = register()
    base = {"response_type": "code", "client_id": app.client_id, "redirect_uri": REDIRECT, "scope": "openid", "state": "st"}
    answer = client.get(AUTHORIZE, {**base, "code_challenge": "a" * 50, "code_challenge_method": "plain"})
    assert answer.status_code == 302 and parse_qs(urlsplit(answer["Location"]).query)["error"] == ["invalid_request"]
    # A consent form posted with the method changed by hand is refused too, and records nothing.
    forged = client.post(AUTHORIZE, {**base, "code_challenge": "a" * 50, "code_challenge_method": "plain", "allow": "Authorize"})
    assert forged.status_code == 302 and parse_qs(urlsplit(forged["Location"]).query)["error"] == ["invalid_request"]
    assert not Consent.objects.exists()
    # Even with consent remembered, the shortcut refuses it (no 500).
    authorize(client, app, "openid", consent=True)
    again = client.get(AUTHORIZE, {**base, "code_challenge": "a" * 50, "code_challenge_method": "plain"})
    assert again.status_code == 302 and parse_qs(urlsplit(again["Location"]).query)["error"] == ["invalid_request"]


# --- signing keys ----------------------------------------------------------------------------------------


def kid_of(raw: str) -> str:
    header = raw.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


@pytest.mark.django_db
def test_key_rotation_keeps_old_tokens_verifiable(client, citizen, settings, tmp_path, monkeypatch):
    import tongban.config.settings as config

    (tmp_path / "oidc").mkdir()
    (tmp_path / "oidc" / "active.pem").write_text(settings.OIDC_ACTIVE_KEY)
    settings.DATA_DIR = tmp_path
    monkeypatch.delenv("OIDC_RSA_PRIVATE_KEY", raising=False)
    sign_in(client)
    app, secret = register()
    before = signed_in_token(client, app, secret, "openid profile")
    old_kid = kid_of(before["id_token"])
    assert [k["kid"] for k in client.get(JWKS).json()["keys"]] == [old_kid]

    out = io.StringIO()
    call_command("oidc_keys", "rotate", stdout=out)
    printed = out.getvalue()
    new_kid = printed.split("kid ", 1)[1].split()[0]
    assert new_kid != old_kid and old_kid in printed and "重启" in printed
    assert len(list((tmp_path / "oidc").glob("inactive-*.pem"))) == 1
    assert oct((tmp_path / "oidc" / "active.pem").stat().st_mode & 0o777) == "0o600"

    # What a restarted process reads (the settings' own loader, on the same directory).
    monkeypatch.setattr(config, "DATA_DIR", tmp_path)
    active, inactive = config._oidc_keys()
    settings.OIDC_ACTIVE_KEY, settings.OIDC_INACTIVE_KEYS = active, inactive
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_RSA_PRIVATE_KEY": active, "OIDC_RSA_PRIVATE_KEYS_INACTIVE": inactive}
    published = [k["kid"] for k in client.get(JWKS).json()["keys"]]
    assert published == [new_kid, old_kid]
    # The old ID token still verifies against the published keys; new ones use the new key.
    assert verified_claims(client, before["id_token"])["sub"] == str(citizen.public_id)
    after = signed_in_token(client, app, secret, "openid profile")
    assert kid_of(after["id_token"]) == new_kid
    assert verified_claims(client, after["id_token"])["sub"] == str(citizen.public_id)
    # Tokens from before the rotation keep working where the platform reads them itself.
    refreshed = client.post(TOKEN, {"grant_type": "refresh_token", "refresh_token": before["refresh_token"]}, **basic(app, secret))
    assert refreshed.status_code == 200 and kid_of(refreshed.json()["id_token"]) == new_kid
    logout = client.get("/o/logout/", {"id_token_hint": before["id_token"]})
    assert logout.status_code == 302, logout.content[:300]  # RP-initiated logout with a pre-rotation ID token
    assert LoginSession.objects.get(account=citizen).ended_at is not None

    call_command("oidc_keys", "prune", "--keep", "0", stdout=io.StringIO())
    assert not list((tmp_path / "oidc").glob("inactive-*.pem"))


def test_the_key_command_in_its_own_process(tmp_path):
    """`tongban oidc-keys` as an operator runs it: rotate twice, list, and refuse keys from the environment."""
    env = {k: v for k, v in os.environ.items() if k != "OIDC_RSA_PRIVATE_KEY"} | {"DATA_DIR": str(tmp_path)}
    tongban = str(Path(sys.executable).parent / "tongban")

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([tongban, "oidc-keys", *args], env=env | extra, capture_output=True, text=True, timeout=120)

    first = run("rotate")
    assert first.returncode == 0, first.stderr
    second = run("rotate")
    listed = run("list").stdout.splitlines()
    kid = second.stdout.split("kid ", 1)[1].split()[0]
    assert listed[0] == f"active: {kid}" and len(listed) == 3
    refused = run("rotate", OIDC_RSA_PRIVATE_KEY="-----BEGIN PRIVATE KEY-----")
    assert refused.returncode != 0 and "OIDC_RSA_PRIVATE_KEY" in refused.stderr


# --- the hot endpoint's queries ------------------------------------------------------------------------


@pytest.mark.django_db
def test_token_endpoint_query_counts(client, citizen, django_assert_num_queries):
    """P6's two requests, statement by statement (SAVEPOINT/RELEASE included: the test runs in a
    transaction, as the view's own atomic block does in production)."""
    system, secret = register("部门系统", grant=OidcApplication.GRANT_CLIENT_CREDENTIALS, scopes="messages")
    ask = {"grant_type": "client_credentials", "scope": "messages"}
    assert client.post(TOKEN, ask, **basic(system, secret)).status_code == 200  # the secret is verified once
    # application; savepoint, token insert, release (the toolkit's block); the token again for
    # the app_authorized signal; the view's own savepoint and release.
    with django_assert_num_queries(7):
        assert client.post(TOKEN, ask, **basic(system, secret)).status_code == 200

    sign_in(client)
    app, app_secret = register()
    token = signed_in_token(client, app, app_secret, "openid profile")
    refresh = {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]}
    relying_party = Client()  # the application's server: no browser session
    # Client; the refresh token, its user and application; the sign-in (sid, mandate); the ID
    # token; the rotation (lock the token and its access token, revoke both, insert the new pair,
    # re-read the application and ID token); the token for the signal; savepoints of the blocks.
    with django_assert_num_queries(26):
        answer = relying_party.post(TOKEN, refresh, **basic(app, app_secret))
    assert answer.status_code == 200 and answer.json()["id_token"]


def test_the_logout_confirmation_and_its_errors_are_portal_pages_in_chinese(client, citizen):
    sign_in(client)
    page = client.get("/o/logout/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "确认退出" in text and "本次登录时进入过的所有应用" in text
    bad = client.get("/o/logout/?id_token_hint=not-a-token")
    assert bad.status_code == 400 and "无法完成退出" in bad.content.decode()
    done = client.post("/o/logout/", {"allow": "Logout"})
    assert done.status_code == 302
    assert client.get("/my/").status_code == 302  # signed out: /my/ sends to the sign-in page
