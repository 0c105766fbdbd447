"""The OpenID Connect provider's rules on top of django-oauth-toolkit.

- ``sub`` is the account's opaque public id, never the database key.
- Claims by scope: ``profile`` gives the masked name and the real-name level; ``phone`` the masked
  mobile; ``enterprise`` the acting enterprise and mandate; ``id_number`` the full ID number, only
  for an application granted that scope with a recorded reason, and each disclosure is audited.
- ``acr`` carries the real-name level (``urn:tongban:loa:L1`` … ``L4``), in every ID token.
- ``sid`` names the login session, so back-channel logout can say which session ended.
- An application asks only for scopes it was registered with.
- Every access token records the mandate it acts under; revoking the mandate revokes the token,
  and every bearer check reads the mandate, so revocation holds even before the tokens are swept.
- ID tokens signed with a key since rotated out (``tongban oidc-keys rotate``) still verify here
  (RP-initiated logout's ``id_token_hint``), by their ``kid``, like at the relying parties.
- A client secret is checked against its Argon2id hash once per process and then remembered.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

from jwcrypto import jwk
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.utils import jwk_from_pem

from tongban.common.audit import audit_record
from tongban.common.masking import mask_mobile, mask_name
from tongban.identity import sessions
from tongban.identity.models import Account, Mandate

ACR_PREFIX = "urn:tongban:loa:L"

# Client secrets verified in this process: SHA-256 of (stored hash, presented secret) -> None.
_VERIFIED_SECRETS: OrderedDict[str, None] = OrderedDict()
_VERIFIED_SECRETS_MAX = 4096
_VERIFIED_SECRETS_LOCK = threading.Lock()


def acr_for(level: int) -> str:
    return f"{ACR_PREFIX}{level}"


class Validator(OAuth2Validator):
    oidc_claim_scope = {
        **OAuth2Validator.oidc_claim_scope,
        "sub": "openid",
        "sid": "openid",
        "acr": "openid",
        "name": "profile",
        "real_name_level": "profile",
        "account_kind": "profile",
        "phone_number": "phone",
        "act": "enterprise",
        "id_number": "id_number",
    }

    def get_claim_dict(self, request: Any) -> dict[str, Any]:
        user: Account = request.user
        login = _sign_in(request)
        mandate = sessions.acting_mandate(login)
        claims: dict[str, Any] = {
            "sub": str(user.public_id),
            "sid": str(login.public_id) if login else "",
            "acr": acr_for(user.real_name_level),
            "name": mask_name(user.display_name or ""),
            "real_name_level": user.real_name_level,
            "account_kind": user.kind,
            "phone_number": mask_mobile(user.mobile) if user.mobile_sealed else "",
            "act": _act_claim(mandate),
        }
        if "id_number" in (request.scopes or []) and request.client.id_number_reason:
            claims["id_number"] = user.id_number
            audit_record(
                actor=None,
                action="identity.id_number_disclosed",
                object_type="account",
                object_id=str(user.public_id),
                after={"application": request.client.name},
                reason=request.client.id_number_reason,
            )
        return claims

    def get_discovery_claims(self, request: Any) -> list[str]:
        return list(self.oidc_claim_scope)

    def validate_scopes(self, client_id: str, scopes: list[str], client: Any, request: Any, *args: Any, **kwargs: Any) -> bool:
        allowed = set(client.allowed_scopes.split())
        if "id_number" in scopes and not client.id_number_reason:
            return False
        return set(scopes) <= allowed and super().validate_scopes(client_id, scopes, client, request, *args, **kwargs)

    def _check_secret(self, provided_secret: str, stored_secret: str) -> bool:
        """The toolkit stores client secrets hashed with the password hasher (Argon2id, about 30 ms
        of a core), and checks the secret on every token, refresh, revocation and introspection
        call: that alone would cap the token endpoint near 60 requests/s on two cores. A secret
        that verified once is remembered in this process under a SHA-256 of the stored hash and the
        secret, so a changed secret (a new stored hash) is verified afresh, and a wrong one is
        never remembered: guessing still pays Argon2id every time. Client secrets are long random
        strings, so the digest in memory gives nothing away that the Argon2id hash would not."""
        key = hashlib.sha256(f"{stored_secret}\x00{provided_secret}".encode()).hexdigest()
        with _VERIFIED_SECRETS_LOCK:
            if key in _VERIFIED_SECRETS:
                _VERIFIED_SECRETS.move_to_end(key)
                return True
        if not super()._check_secret(provided_secret, stored_secret):
            return False
        with _VERIFIED_SECRETS_LOCK:
            _VERIFIED_SECRETS[key] = None
            while len(_VERIFIED_SECRETS) > _VERIFIED_SECRETS_MAX:
                _VERIFIED_SECRETS.popitem(last=False)
        return True

    def _get_key_for_token(self, token: str) -> Any:
        """The toolkit verifies ID tokens it issued (RP-initiated logout's ``id_token_hint``) with
        the active key only, so every ID token issued before a key rotation would be refused. The
        inactive keys are published in the JWKS for exactly these tokens: verify with all of
        them, chosen by the token's ``kid``."""
        key = super()._get_key_for_token(token)
        if key is None or key.get("kty") != "RSA" or not oauth2_settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE:
            return key
        keys = jwk.JWKSet()
        for pem in (oauth2_settings.OIDC_RSA_PRIVATE_KEY, *oauth2_settings.OIDC_RSA_PRIVATE_KEYS_INACTIVE):
            keys.add(jwk_from_pem(pem))
        return keys

    def validate_silent_login(self, request: Any) -> bool:
        """``prompt=none``: the toolkit's view answers ``login_required`` itself before it asks
        the validator, so whoever gets here is signed in (oauthlib leaves this unimplemented: a 500)."""
        return True

    def validate_silent_authorization(self, request: Any) -> bool:
        """``prompt=none`` without remembered consent is answered ``consent_required`` by the
        authorisation view (web/oidc.py), which knows the person; oauthlib's request does not."""
        return True

    def validate_bearer_token(self, token: str, scopes: list[str], request: Any) -> bool:
        """The toolkit's check, then the mandate the token acts under, read live (userinfo and
        every resource the toolkit protects): a revoked mandate stops its tokens at once."""
        if not super().validate_bearer_token(token, scopes, request):
            return False
        if sessions.token_mandate_revoked(token):
            request.oauth2_error = {"error": "invalid_token", "error_description": "The mandate of this token was revoked."}
            return False
        return True

    def save_bearer_token(self, token: dict[str, Any], request: Any, *args: Any, **kwargs: Any) -> None:
        super().save_bearer_token(token, request, *args, **kwargs)
        if request.user is not None and getattr(request.user, "pk", None):
            sessions.token_issued(
                access_token=token.get("access_token", ""), user=request.user, application=request.client, login=_sign_in(request)
            )


def _sign_in(request: Any) -> Any:
    """The sign-in behind this token request (the ID token's ``sid`` and the acting mandate),
    looked up once per request: the claims and the token's mandate record both need it."""
    found = getattr(request, "_tongban_sign_in", ...)
    if found is ...:
        found = sessions.latest_sign_in(request.user, request.client)
        request._tongban_sign_in = found
    return found


def _act_claim(mandate: Mandate | None) -> dict[str, Any] | None:
    if mandate is None:
        return None
    return {
        "enterprise": mandate.enterprise.credit_code,
        "enterprise_name": mandate.enterprise.name,
        "mandate": str(mandate.public_id),
        "role": mandate.role,
        "scope": mandate.scope,
        "items": list(mandate.items),
        "valid_until": mandate.valid_until.isoformat() if mandate.valid_until else None,
    }
