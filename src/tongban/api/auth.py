"""Authentication of department systems (接入系统) for the partner APIs (/api/v1/messages,
/api/v1/cases): an API key (``Authorization: Bearer tb_live_...`` / ``tb_test_...``), or an OAuth2
access token from the client-credentials grant of the OIDC application linked to the system
(``ApiClient.application``), issued with the API's scope; a token counts as the system's live key.
Each system is rate limited as a whole (its own per-minute allowance), whichever credential it used.
"""

from __future__ import annotations

import hashlib

from django.http import HttpRequest
from ninja.security import HttpBearer
from oauth2_provider.models import AccessToken

from tongban.common.errors import DomainError
from tongban.common.ratelimit import over_limit
from tongban.identity.models import ApiKey
from tongban.identity.services import api_key_authenticate


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429


class ClientKey(HttpBearer):
    """A department system's API key, or an access token of its OIDC application with ``scope``;
    the client is then rate limited as a whole, whichever credential it used."""

    def __init__(self, scope: str = "messages") -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        key = api_key_authenticate(token) if token.startswith("tb_") else client_credentials_key(token, scope=self.scope)
        if key is None:
            return None
        if over_limit(f"client:{key.client_id}", key.client.rate_limit_per_minute):
            raise RateLimited(f"调用过于频繁：每分钟最多 {key.client.rate_limit_per_minute} 次，请稍后重试。")
        return key


def client_credentials_key(token: str, *, scope: str) -> ApiKey | None:
    """An OAuth2 access token from the client-credentials grant (no person behind it), valid, with
    ``scope``, whose application still allows that scope (a disabled application allows none) and
    is linked to an active department system: the system's live key, unsaved (the handlers read
    only its client and kind)."""
    access = (
        AccessToken.objects.select_related("application__api_client__department")
        .filter(token_checksum=hashlib.sha256(token.encode()).hexdigest())
        .first()
    )
    if access is None or access.user_id is not None or access.application is None or not access.is_valid([scope]):
        return None
    if scope not in access.application.allowed_scopes.split():
        return None
    client = getattr(access.application, "api_client", None)
    if client is None or not client.is_active:
        return None
    return ApiKey(client=client, kind=ApiKey.Kind.LIVE)
