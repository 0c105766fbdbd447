"""The OpenID Connect provider's rules on top of django-oauth-toolkit.

- ``sub`` is the account's opaque public id, never the database key.
- Claims by scope: ``profile`` gives the masked name and the real-name level; ``phone`` the masked
  mobile; ``enterprise`` the acting enterprise and mandate; ``id_number`` the full ID number, only
  for an application granted that scope with a recorded reason, and each disclosure is audited.
- ``acr`` carries the real-name level (``urn:tongban:loa:L1`` … ``L4``), in every ID token.
- ``sid`` names the login session, so back-channel logout can say which session ended.
- An application asks only for scopes it was registered with.
- Every access token records the mandate it acts under; revoking the mandate revokes the token.
"""

from __future__ import annotations

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator

from tongban.common.audit import audit_record
from tongban.common.masking import mask_mobile, mask_name
from tongban.identity import sessions
from tongban.identity.models import Account, Mandate

ACR_PREFIX = "urn:tongban:loa:L"


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
        login = sessions.latest_sign_in(user, request.client)
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

    def save_bearer_token(self, token: dict[str, Any], request: Any, *args: Any, **kwargs: Any) -> None:
        super().save_bearer_token(token, request, *args, **kwargs)
        if request.user is not None and getattr(request.user, "pk", None):
            sessions.token_issued(access_token=token.get("access_token", ""), user=request.user, application=request.client)


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
