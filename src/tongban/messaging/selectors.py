"""Reads of the message centre. What a person or a department system may see is part of the query:
another's message looks the same as no message."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from tongban.common.pagination import Page, paginate_by_key
from tongban.identity.models import Account, ApiClient
from tongban.messaging.models import Callback, Delivery, InboxItem, Message, Preference, SandboxSms, Template

UNREAD_CAP = 99
STATUS_ORDER = ["delivered", "sent", "sending", "created", "expired", "failed"]


# --- the person's inbox --------------------------------------------------------------------------


def inbox_list(
    *, account: Account, archived: bool = False, unread_only: bool = False, cursor: str | None = None, limit: int = 20
) -> Page[InboxItem]:
    qs = InboxItem.objects.filter(account=account, archived_at__isnull=not archived)
    if unread_only:
        qs = qs.filter(read_at=None)
    return paginate_by_key(qs.defer("body"), key="-id", cursor=cursor, limit=limit)


def inbox_unread_count(account: Account) -> int:
    """Unread messages, counted up to UNREAD_CAP + 1 so the header badge never scans a whole inbox."""
    ids = InboxItem.objects.filter(account=account, read_at=None, archived_at=None).values_list("id", flat=True)[: UNREAD_CAP + 1]
    return len(ids)


def inbox_item_get(*, account: Account, item_id: str) -> InboxItem | None:
    import uuid

    try:
        key = uuid.UUID(item_id)
    except ValueError:
        return None
    return InboxItem.objects.filter(account=account, public_id=key).first()


def preference_get(account: Account) -> Preference | None:
    return Preference.objects.filter(account=account).first()


# --- a department system's sends -----------------------------------------------------------------


def message_status(deliveries: list[Delivery]) -> str:
    """One word for a message: the best state any of its deliveries reached, so a message that
    reached the inbox while its SMS failed reads as delivered, and its deliveries say the rest.
    A message without deliveries was suppressed by the person's own channel choices."""
    states = {d.state for d in deliveries}
    for state in STATUS_ORDER:
        if state in states:
            return state
    return "suppressed"  # the person turned off every channel this template uses


def client_message_get(*, client: ApiClient, message_id: str) -> Message | None:
    import uuid

    try:
        key = uuid.UUID(message_id)
    except ValueError:
        return None
    return (
        Message.objects.filter(client=client, public_id=key)
        .select_related("template_version__template")
        .prefetch_related("deliveries")
        .first()
    )


def client_messages(*, client: ApiClient, cursor: str | None, limit: int = 50) -> Page[Message]:
    qs = Message.objects.filter(client=client).select_related("template_version__template").prefetch_related("deliveries")
    return paginate_by_key(qs, key="-id", cursor=cursor, limit=limit)


# --- operators -----------------------------------------------------------------------------------


def volumes(*, since: dt.datetime) -> dict[str, Any]:
    """Deliveries per channel and per template since a time, with the delivery rate of those that
    ended, and failures by reason."""
    recent = Delivery.objects.filter(created_at__gte=since, message__is_test=False)
    by_channel: list[dict[str, Any]] = [
        dict(row)
        for row in recent.values("channel")
        .annotate(
            total=Count("id"),
            delivered=Count("id", filter=Q(state="delivered")),
            failed=Count("id", filter=Q(state__in=["failed", "expired"])),
            pending=Count("id", filter=Q(state__in=["created", "sending", "sent"])),
        )
        .order_by("channel")
    ]
    for row in by_channel:
        ended = row["delivered"] + row["failed"]
        row["rate"] = round(100 * row["delivered"] / ended, 1) if ended else None
    by_template = list(
        recent.values("message__template_version__template__code", "message__template_version__template__name")
        .annotate(
            total=Count("id"),
            delivered=Count("id", filter=Q(state="delivered")),
            failed=Count("id", filter=Q(state__in=["failed", "expired"])),
        )
        .order_by("-total")[:50]
    )
    failures = list(
        recent.filter(state__in=["failed", "expired"])
        .values("channel", "failure_code", "failure_reason")
        .annotate(total=Count("id"))
        .order_by("-total")[:50]
    )
    return {"by_channel": by_channel, "by_template": by_template, "failures": failures}


def failed_deliveries(*, cursor: str | None, limit: int = 50) -> Page[Delivery]:
    qs = (
        Delivery.objects.filter(state__in=["failed", "expired"])
        .exclude(channel="inbox")
        .select_related("message__template_version__template")
    )
    return paginate_by_key(qs, key="-id", cursor=cursor, limit=limit)


def failed_callbacks(*, limit: int = 50) -> list[Callback]:
    return list(Callback.objects.filter(state=Callback.State.FAILED).select_related("client").order_by("-id")[:limit])


def messages_of(*, account: Account, cursor: str | None, limit: int = 50) -> Page[Message]:
    """One person's messages for support: the console shows them masked and records why it looked."""
    qs = Message.objects.filter(recipient=account).select_related("template_version__template").prefetch_related("deliveries")
    return paginate_by_key(qs, key="-id", cursor=cursor, limit=limit)


def sandbox_sms_recent(*, cursor: str | None, limit: int = 50) -> Page[SandboxSms]:
    return paginate_by_key(SandboxSms.objects.all(), key="-id", cursor=cursor, limit=limit)


def templates_all() -> QuerySet[Template]:
    return Template.objects.select_related("department").order_by("code")


def since_hours(hours: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=hours)
