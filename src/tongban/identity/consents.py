"""Consent: what a person agreed an application may receive, remembered until revoked."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import get_access_token_model

from tongban.common.audit import audit_record
from tongban.identity.models import Account, Consent, OidcApplication


def covers(*, account: Account, application: OidcApplication, scopes: list[str]) -> bool:
    wanted = set(scopes)
    return any(wanted <= set(c.scopes.split()) for c in Consent.objects.filter(account=account, application=application, revoked_at=None))


def grant(*, account: Account, application: OidcApplication, scopes: list[str]) -> Consent:
    with transaction.atomic():
        consent = Consent.objects.create(account=account, application=application, scopes=" ".join(sorted(set(scopes))))
        audit_record(
            actor=account,
            action="identity.consent_granted",
            object_type="account",
            object_id=str(account.public_id),
            after={"application": application.name, "scopes": consent.scopes},
        )
    return consent


def of(account: Account) -> list[Consent]:
    return list(Consent.objects.filter(account=account, revoked_at=None).select_related("application").order_by("-granted_at"))


def revoke(*, account: Account, application: OidcApplication) -> int:
    """Withdraw consent for an application: its remembered consent and the tokens it holds."""
    with transaction.atomic():
        count = Consent.objects.filter(account=account, application=application, revoked_at=None).update(revoked_at=timezone.now())
        for token in get_access_token_model().objects.filter(user=account, application=application):
            token.revoke()
        audit_record(
            actor=account,
            action="identity.consent_revoked",
            object_type="account",
            object_id=str(account.public_id),
            after={"application": application.name},
        )
    return count
