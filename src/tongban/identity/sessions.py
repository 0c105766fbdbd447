"""Sign-in sessions and single logout.

A ``LoginSession`` is one sign-in on one device (the OpenID Connect ``sid``). Each application the
session signs into is recorded (``AppSignIn``). Ending a session — logging out here, RP-initiated
logout from an application, "log out everywhere", an administrator — ends the Django session,
revokes the tokens issued to those applications for this person, and owes every application
with a back-channel logout URI a signed logout token (OpenID Connect Back-Channel Logout 1.0),
posted from the ``callbacks`` queue and retried.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import time
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from tongban.common.audit import audit_record
from tongban.identity.models import Account, AppSignIn, BackchannelLogout, LoginSession, Mandate, OidcApplication, TokenMandate

LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def session_start(*, account: Account, session_key: str, method: str, client_ip: str = "", user_agent: str = "") -> LoginSession:
    login = LoginSession.objects.create(
        account=account, session_key=session_key, method=method, client_ip=client_ip[:64], user_agent=user_agent[:200]
    )
    audit_record(
        actor=account, action="identity.sign_in", object_type="account", object_id=str(account.public_id), after={"method": method}
    )
    return login


def session_live(public_id: str) -> LoginSession | None:
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return LoginSession.objects.select_related("acting_mandate__enterprise").filter(public_id=key, ended_at=None).first()


def sessions_of(account: Account) -> list[LoginSession]:
    return list(
        LoginSession.objects.filter(account=account, ended_at=None).prefetch_related("app_sign_ins__application").order_by("-created_at")
    )


def app_signed_in(*, login: LoginSession, application: OidcApplication) -> None:
    AppSignIn.objects.get_or_create(login_session=login, application=application)


def latest_sign_in(user: Account, application: Any) -> LoginSession | None:
    """The live session through which this person most recently signed into this application."""
    sign_in = (
        AppSignIn.objects.select_related("login_session__acting_mandate__enterprise")
        .filter(login_session__account=user, login_session__ended_at=None, application=application)
        .order_by("-created_at")
        .first()
    )
    return sign_in.login_session if sign_in else None


def mandate_is_live(mandate: Mandate | None) -> bool:
    if mandate is None or mandate.revoked_at is not None:
        return False
    now = timezone.now()
    return mandate.valid_from <= now and (mandate.valid_until is None or now < mandate.valid_until)


def acting_mandate(login: LoginSession | None) -> Mandate | None:
    if login is None or not mandate_is_live(login.acting_mandate):
        return None
    return login.acting_mandate


def token_issued(*, access_token: str, user: Account, application: Any, login: Any = ...) -> None:
    """Remember the mandate a new access token acts under, so revoking the mandate revokes it.
    ``login``: the sign-in already looked up for this token request, if any (saves a query)."""
    mandate = acting_mandate(latest_sign_in(user, application) if login is ... else login)
    if mandate is not None and access_token:
        TokenMandate.objects.create(token_checksum=hashlib.sha256(access_token.encode()).hexdigest(), mandate=mandate)


def token_mandate_revoked(access_token: str) -> bool:
    """Whether this access token acts under a mandate that is no longer live (revoked, expired):
    the mandate row is read on every check, so revocation is immediate even before
    ``tokens_revoke_for_mandate`` has run."""
    checksum = hashlib.sha256(access_token.encode()).hexdigest()
    held = TokenMandate.objects.select_related("mandate").filter(token_checksum=checksum).first()
    return held is not None and not mandate_is_live(held.mandate)


def tokens_revoke_for_mandate(mandate: Mandate) -> int:
    """Revoke every access token (and its refresh token) issued under a mandate."""
    checksums = list(TokenMandate.objects.filter(mandate=mandate).values_list("token_checksum", flat=True))
    return _revoke(get_access_token_model().objects.filter(token_checksum__in=checksums))


def _revoke(access_tokens: Any) -> int:
    count = 0
    for token in access_tokens.select_related("source_refresh_token"):
        refresh = get_refresh_token_model().objects.filter(access_token=token).first()
        if refresh is not None:
            refresh.revoke()  # revokes its access token too
        else:
            token.revoke()
        count += 1
    return count


def session_end(*, login: LoginSession, reason: str, actor: Account | None = None) -> int:
    """End one sign-in everywhere. Returns how many applications will be told."""
    with transaction.atomic():
        login = LoginSession.objects.select_for_update().get(pk=login.pk)
        if login.ended_at is not None:
            return 0
        login.ended_at = timezone.now()
        login.save(update_fields=["ended_at"])
        _delete_django_session(login.session_key)
        told = 0
        for sign_in in AppSignIn.objects.select_related("application").filter(login_session=login):
            _revoke(get_access_token_model().objects.filter(user=login.account, application=sign_in.application))
            if sign_in.application.backchannel_logout_uri:
                notice = BackchannelLogout.objects.create(application=sign_in.application, login_session=login)
                _enqueue_notice(notice)
                told += 1
        audit_record(
            actor=actor or login.account,
            action="identity.sign_out",
            object_type="account",
            object_id=str(login.account.public_id),
            after={"session": str(login.public_id), "applications_told": told},
            reason=reason,
        )
    return told


def sessions_end_all(*, account: Account, reason: str, actor: Account | None = None) -> int:
    """ "Log out everywhere": every live session of this person."""
    return sum(
        session_end(login=login, reason=reason, actor=actor) for login in LoginSession.objects.filter(account=account, ended_at=None)
    )


def _delete_django_session(session_key: str) -> None:
    if session_key:
        engine = importlib.import_module(settings.SESSION_ENGINE)
        engine.SessionStore(session_key).delete()


def _enqueue_notice(notice: BackchannelLogout, run_after: Any = None) -> None:
    from tongban.identity import tasks

    task = tasks.backchannel_logout.using(run_after=run_after) if run_after else tasks.backchannel_logout
    notice.task_id = str(task.enqueue(notice.pk).id)
    BackchannelLogout.objects.filter(pk=notice.pk).update(task_id=notice.task_id)


def logout_token(notice: BackchannelLogout) -> str:
    """A signed logout token (RS256, the key the JWKS publishes)."""
    from jwcrypto import jwt
    from oauth2_provider.settings import oauth2_settings
    from oauth2_provider.utils import jwk_from_pem

    # The key ID tokens are signed with (the toolkit's settings, parsed once per process).
    key = jwk_from_pem(oauth2_settings.OIDC_RSA_PRIVATE_KEY)
    now = int(time.time())
    claims = {
        "iss": oauth2_settings.OIDC_ISS_ENDPOINT,
        "aud": notice.application.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": str(uuid.uuid4()),
        "sub": str(notice.login_session.account.public_id),
        "sid": str(notice.login_session.public_id),
        "events": {LOGOUT_EVENT: {}},
    }
    token = jwt.JWT(header={"alg": "RS256", "typ": "logout+jwt", "kid": key.thumbprint()}, claims=json.dumps(claims))
    token.make_signed_token(key)
    return str(token.serialize())


def backchannel_deliver(notice_id: int, *, transport: Any = None) -> str:
    from urllib.parse import urlencode

    from tongban.common.http import http_transport

    send = transport or http_transport
    with transaction.atomic():
        notice = (
            BackchannelLogout.objects.select_for_update()
            .select_related("application", "login_session__account")
            .filter(pk=notice_id)
            .first()
        )
        if notice is None or notice.state != BackchannelLogout.State.PENDING:
            return "done"
        notice.attempts += 1
        notice.save(update_fields=["attempts"])
    body = urlencode({"logout_token": logout_token(notice)}).encode()
    status = send(notice.application.backchannel_logout_uri, body, {"Content-Type": "application/x-www-form-urlencoded"})
    now = timezone.now()
    with transaction.atomic():
        notice = BackchannelLogout.objects.select_for_update().get(pk=notice_id)
        if 200 <= status < 300:
            notice.state, notice.finished_at, notice.last_error = BackchannelLogout.State.DONE, now, ""
            notice.save(update_fields=["state", "finished_at", "last_error"])
            return "done"
        notice.last_error = f"HTTP {status}" if status else "连接失败或超时"
        if notice.attempts >= settings.BACKCHANNEL_LOGOUT_MAX_ATTEMPTS:
            notice.state, notice.finished_at = BackchannelLogout.State.FAILED, now
            notice.save(update_fields=["state", "finished_at", "last_error"])
            return "failed"
        notice.save(update_fields=["last_error"])
        _enqueue_notice(notice, run_after=now + timedelta(seconds=settings.MESSAGING_RETRY_SECONDS * (2 ** (notice.attempts - 1))))
        return "retry"
