"""The message centre's writes.

``message_send`` is the one call every domain uses. It runs inside the caller's transaction: the
message, its deliveries, the inbox entry and the queued work commit with the caller's change or
not at all. The inbox is our own table, so it is written there and then; each outside channel is
a delivery handed to its own task queue (messages-sms, messages-email, messages-push), so a slow
SMS gateway never delays e-mail or the inbox.

A delivery moves created → sending → sent → delivered | failed | expired. Each try at the
provider is an attempt with its own idempotency key; a worker that dies between the provider's
answer and our record leaves the attempt open, and the retry (after the lease runs out) presents
the same key, so the provider recognises the repeat instead of sending twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from tongban.common.audit import audit_record
from tongban.common.crypto import seal, unseal
from tongban.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tongban.common.masking import mask_email, mask_mobile
from tongban.identity.models import Account, ApiClient
from tongban.messaging import metrics, providers, rendering
from tongban.messaging.models import (
    INTRUSIVE_CHANNELS,
    MANDATORY_CATEGORIES,
    Callback,
    Category,
    Channel,
    Delivery,
    DeliveryAttempt,
    InboxItem,
    Message,
    Preference,
    Template,
    TemplateVersion,
)

LOCAL = ZoneInfo("Asia/Shanghai")
OUTSIDE_CHANNELS = (Channel.SMS, Channel.EMAIL, Channel.PUSH)
# Outside channels a person accepts per category until they choose. A template's own channels and
# fallback chain decide which of them a message actually uses.
DEFAULT_CHANNELS: dict[str, list[str]] = {
    Category.CASE_PROGRESS: ["sms", "email", "push"],
    Category.LICENCE_EXPIRY: ["sms", "email", "push"],
    Category.ACCOUNT_SECURITY: ["sms", "email"],
    Category.NEW_SERVICES: [],
    Category.POLICY: [],
}
UNSUBSCRIBE_SALT = "messaging.unsubscribe"


@dataclasses.dataclass(frozen=True)
class Address:
    """A recipient who is not (yet) an account: a one-time code to a number being registered."""

    mobile: str = ""
    email: str = ""


# --- templates -----------------------------------------------------------------------------------


def template_save(
    *,
    actor: Any,
    code: str,
    name: str,
    category: str,
    placeholders: list[dict[str, Any]],
    texts: dict[str, str],
    fallback: dict[str, list[str]] | None = None,
    ttl_minutes: int = 24 * 60,
    department: Any = None,
    note: str = "",
) -> TemplateVersion:
    """Create a template or add a version. Idempotent: the same content as the current version
    writes nothing. ``texts`` has any of inbox_title, inbox_body, link, sms_body, email_subject,
    email_body, push_title, push_body."""
    allowed = {"inbox_title", "inbox_body", "link", "sms_body", "email_subject", "email_body", "push_title", "push_body"}
    texts = {k: v.strip() for k, v in texts.items() if v and v.strip()}
    if set(texts) - allowed:
        raise ValidationFailed(f"未知的模板字段：{'、'.join(sorted(set(texts) - allowed))}。", code="template_field_unknown")
    if category not in Category.values:
        raise ValidationFailed("消息类别无效。", code="template_category")
    if not any(texts.get(f) for f in ("inbox_body", "sms_body", "email_body", "push_body")):
        raise ValidationFailed("至少要为一个通道写正文。", code="template_empty")
    for body, title in (("inbox_body", "inbox_title"), ("email_body", "email_subject"), ("push_body", "push_title")):
        if texts.get(body) and not texts.get(title):
            raise ValidationFailed("站内消息、邮件和推送的正文都需要标题。", code="template_title_missing", details={"field": title})
    clean = rendering.check_placeholders(placeholders, texts)
    if texts.get("sms_body"):
        length, segments = rendering.sms_worst_case(texts["sms_body"], clean)
        if segments > settings.SMS_MAX_SEGMENTS:
            raise ValidationFailed(
                f"短信最长可达 {length} 字，需 {segments} 条计费短信，超过上限 {settings.SMS_MAX_SEGMENTS} 条；"
                "请精简正文或缩短占位符最大长度。",
                code="sms_too_long",
                details={"length": length, "segments": segments},
            )
    fallback = fallback or {}
    for source, targets in fallback.items():
        if source not in Channel.values or any(t not in Channel.values or t == source for t in targets):
            raise ValidationFailed("失败转投设置无效：通道名称不对或转投给了自己。", code="template_fallback")
    if ttl_minutes < 1:
        raise ValidationFailed("有效时长至少 1 分钟。", code="template_ttl")
    with transaction.atomic():
        template, created = Template.objects.select_for_update().get_or_create(
            code=code,
            defaults={"name": name, "category": category, "fallback": fallback, "ttl_minutes": ttl_minutes, "department": department},
        )
        current = template.versions.filter(version=template.current_version).first()
        fields = {f: texts.get(f, "") for f in allowed}
        same_settings = (template.name, template.category, template.fallback, template.ttl_minutes, template.department_id) == (
            name,
            category,
            fallback,
            ttl_minutes,
            department.pk if department else None,
        )
        if (
            current is not None
            and same_settings
            and current.placeholders == clean
            and all(getattr(current, f) == v for f, v in fields.items())
        ):
            return current
        template.name, template.category, template.fallback, template.ttl_minutes, template.department = (
            name,
            category,
            fallback,
            ttl_minutes,
            department,
        )
        if current is None or current.placeholders != clean or any(getattr(current, f) != v for f, v in fields.items()):
            template.current_version += 1
            current = TemplateVersion.objects.create(
                template=template,
                version=template.current_version,
                placeholders=clean,
                note=note[:200],
                created_by=actor if getattr(actor, "pk", None) else None,
                **fields,
            )
        template.save()
        transaction.on_commit(forget_cached_templates)
        forget_cached_templates()
        audit_record(
            actor=actor,
            action="message_template.create" if created else "message_template.update",
            object_type="message_template",
            object_id=code,
            after={"version": template.current_version, "category": category, "fallback": fallback, "note": note},
        )
    return current


# --- preferences and quiet hours -----------------------------------------------------------------


def preference_channels(preference: Preference | None, category: str) -> list[str]:
    """Outside channels the person wants for a category (the inbox is always on)."""
    if category in MANDATORY_CATEGORIES:
        return [c.value for c in OUTSIDE_CHANNELS]
    if preference is not None and category in preference.channels:
        return list(preference.channels[category])
    return list(DEFAULT_CHANNELS.get(category, []))


def quiet_until(now: dt.datetime, start: dt.time | None, end: dt.time | None) -> dt.datetime | None:
    """When quiet hours that cover ``now`` end (in UTC), or None when ``now`` is outside them.
    A window like 22:00–07:00 runs across midnight."""
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(LOCAL)
    clock = local.time()
    if start < end:
        inside = start <= clock < end
        end_day = local.date()
    else:
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return dt.datetime.combine(end_day, end, tzinfo=LOCAL).astimezone(dt.UTC)


def preference_set(
    *, actor: Any, account: Account, channels: dict[str, list[str]], quiet_start: dt.time | None, quiet_end: dt.time | None
) -> Preference:
    clean: dict[str, list[str]] = {}
    for category, chosen in channels.items():
        if category not in Category.values:
            raise ValidationFailed("消息类别无效。", code="preference_category")
        if category in MANDATORY_CATEGORIES:
            continue  # security messages cannot be switched off
        if any(c not in (Channel.SMS, Channel.EMAIL, Channel.PUSH) for c in chosen):
            raise ValidationFailed("接收方式无效。", code="preference_channel")
        clean[category] = sorted(set(chosen))
    if (quiet_start is None) != (quiet_end is None):
        raise ValidationFailed("免打扰时段需要同时填写开始和结束时间。", code="quiet_hours_incomplete")
    with transaction.atomic():
        preference, _ = Preference.objects.select_for_update().get_or_create(account=account)
        before = {"channels": preference.channels, "quiet": [str(preference.quiet_start), str(preference.quiet_end)]}
        preference.channels = {**preference.channels, **clean}
        preference.quiet_start, preference.quiet_end = quiet_start, quiet_end
        preference.save()
        audit_record(
            actor=actor,
            action="message_preference.update",
            object_type="account",
            object_id=str(account.public_id),
            before=before,
            after={"channels": preference.channels, "quiet": [str(quiet_start), str(quiet_end)]},
        )
    return preference


def unsubscribe_token(account: Account, category: str) -> str:
    return signing.dumps({"a": str(account.public_id), "c": category}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_read(token: str) -> tuple[Account, str]:
    try:
        payload = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        account = Account.objects.get(public_id=payload["a"])
        category = str(payload["c"])
    except (signing.BadSignature, Account.DoesNotExist, KeyError, ValueError, TypeError) as exc:
        raise NotFound("退订链接无效或已失效，请登录后在“消息设置”中修改。", code="unsubscribe_invalid") from exc
    if category not in Category.values:
        raise NotFound("退订链接无效或已失效，请登录后在“消息设置”中修改。", code="unsubscribe_invalid")
    return account, category


def unsubscribe(*, token: str) -> tuple[Account, str]:
    """One-click unsubscribe from a category's outside channels (the inbox keeps the record)."""
    account, category = unsubscribe_read(token)
    if category in MANDATORY_CATEGORIES:
        raise ValidationFailed("账户安全类消息关系到您的账号安全，不能退订。", code="unsubscribe_mandatory")
    with transaction.atomic():
        preference, _ = Preference.objects.select_for_update().get_or_create(account=account)
        before = dict(preference.channels)
        preference.channels = {**preference.channels, category: []}
        preference.save()
        audit_record(
            actor=account,
            action="message_preference.unsubscribe",
            object_type="account",
            object_id=str(account.public_id),
            before=before,
            after=preference.channels,
            reason=f"一键退订：{Category(category).label}",
        )
    return account, category


# --- sending -------------------------------------------------------------------------------------


# Current template versions per process for TEMPLATE_CACHE_SECONDS: a busy sender does not look
# the template up on every message. A save in this process forgets them at once; other processes
# see an edit within the TTL (versions themselves never change, so nothing stale is ever sent
# half-updated).
TEMPLATE_CACHE_SECONDS = 5.0
_versions: dict[str, tuple[float, TemplateVersion]] = {}


def forget_cached_templates() -> None:
    _versions.clear()


def _current_version(code: str) -> TemplateVersion:
    cached = _versions.get(code)
    if cached is not None and time.monotonic() - cached[0] < TEMPLATE_CACHE_SECONDS:
        return cached[1]
    version = (
        TemplateVersion.objects.select_related("template", "template__department")
        .filter(template__code=code, template__is_active=True, version=F("template__current_version"))
        .first()
    )
    if version is None:
        raise NotFound(f"消息模板“{code}”不存在或已停用。", code="template_unknown")
    _versions[code] = (time.monotonic(), version)
    return version


def primary_channels(version: TemplateVersion) -> list[str]:
    """Channels a message goes out on at first: every channel the template has text for, except
    outside channels that are only there as a fallback. The inbox is always primary: it is the record."""
    targets = {t for chain in version.template.fallback.values() for t in chain}
    return [c for c in version.channels() if c == Channel.INBOX or c not in targets]


def _address(recipient: Account | Address, channel: str) -> str:
    if channel == Channel.SMS:
        return recipient.mobile
    if channel == Channel.EMAIL:
        return recipient.email
    return ""  # push: device registrations come with the provincial app


def _masked(channel: str, address: str) -> str:
    if channel == Channel.SMS:
        return mask_mobile(address)
    if channel == Channel.EMAIL:
        return mask_email(address)
    return ""


def _enqueue(deliveries: list[Delivery], *, run_after: dt.datetime | None = None) -> str:
    """Queue deliveries of one channel as one task on that channel's queue and remember the task
    on each (set before they are saved, or updated after), so the sweep can tell a delivery that
    waits in a long queue from one whose task was lost."""
    from tongban.messaging import tasks

    task = tasks.deliver.using(queue_name=f"messages-{deliveries[0].channel}")
    if run_after:
        task = task.using(run_after=run_after)
    task_id = str(task.enqueue([str(d.key) for d in deliveries]).id)
    for delivery in deliveries:
        delivery.task_id = task_id
    return task_id


def _requeue(delivery: Delivery) -> None:
    task_id = _enqueue([delivery], run_after=delivery.not_before)
    Delivery.objects.filter(pk=delivery.pk).update(task_id=task_id)


def _enqueue_callback(callback: Callback, run_after: dt.datetime | None = None) -> None:
    from tongban.messaging import tasks

    task = tasks.callback_post.using(run_after=run_after) if run_after else tasks.callback_post
    callback.task_id = str(task.enqueue(callback.pk).id)
    Callback.objects.filter(pk=callback.pk).update(task_id=callback.task_id)


def message_send(
    *,
    recipient: Account | Address,
    template: str,
    data: dict[str, Any],
    reason: str,
    client: ApiClient | None = None,
    client_reference: str = "",
    idempotency_key: str = "",
    is_test: bool = False,
) -> Message:
    """Send ``template`` with ``data`` to ``recipient``. Call inside your transaction."""
    if not reason or not reason.strip():
        raise ValidationFailed("请说明发送事由。", code="reason_required")
    version = _current_version(template)
    tpl = version.template
    if client is not None and tpl.department_id != client.department_id:
        raise PermissionDenied(f"消息模板“{template}”不属于本系统所在部门，不能使用。", code="template_forbidden")
    values = rendering.validate_data(version.placeholders, data)
    if client is None or not idempotency_key:
        return _create(recipient, version, values, data, reason.strip()[:200], client, client_reference, "", is_test)
    existing = Message.objects.filter(client=client, idempotency_key=idempotency_key).first()
    if existing is not None:
        return _same_or_conflict(existing, version, data)
    try:
        with transaction.atomic():  # a savepoint: a concurrent twin may win the unique key
            return _create(recipient, version, values, data, reason.strip()[:200], client, client_reference, idempotency_key, is_test)
    except IntegrityError:
        # Two requests with one idempotency key at once: the other one's message stands.
        existing = Message.objects.get(client=client, idempotency_key=idempotency_key)
        return _same_or_conflict(existing, version, data)


MAX_BATCH = 1000


@dataclasses.dataclass(frozen=True)
class SendRequest:
    """One message of a batch (``message_send_many``)."""

    recipient: Account
    template: str
    data: dict[str, Any]
    reason: str
    client_reference: str = ""
    idempotency_key: str = ""


def message_send_many(*, requests: list[SendRequest], client: ApiClient | None = None, is_test: bool = False) -> list[Message]:
    """Send many messages at once (a licence-expiry run, a department's batch). All or nothing:
    every request is checked first and one bad request refuses the whole batch with a report per
    request. Saved with a few bulk statements and one queued task per channel. Call inside your
    transaction. Each returned message carries ``planned``: its deliveries."""
    if not requests:
        raise ValidationFailed("批量消息不能为空。", code="batch_empty")
    if len(requests) > MAX_BATCH:
        raise ValidationFailed(f"一批最多 {MAX_BATCH} 条消息。", code="batch_too_large")
    checked: list[tuple[SendRequest, TemplateVersion, dict[str, str]]] = []
    errors: list[dict[str, Any]] = []
    for index, request in enumerate(requests):
        try:
            if not request.reason.strip():
                raise ValidationFailed("请说明发送事由。", code="reason_required")
            version = _current_version(request.template)
            if client is not None and version.template.department_id != client.department_id:
                raise PermissionDenied(f"消息模板“{request.template}”不属于本系统所在部门，不能使用。", code="template_forbidden")
            checked.append((request, version, rendering.validate_data(version.placeholders, request.data)))
        except (ValidationFailed, NotFound, PermissionDenied) as exc:
            errors.append({"index": index, "code": exc.code, "message": exc.message})
    if errors:
        raise ValidationFailed(f"这批消息中有 {len(errors)} 条不符合要求，整批未发送，请改正后重发。", code="batch_refused", details=errors)
    now = timezone.now()
    preferences = {p.account_id: p for p in Preference.objects.filter(account_id__in={r.recipient.pk for r, _v, _d in checked})}
    planned: list[tuple[Message, TemplateVersion, dict[str, str], list[str], SendRequest]] = []
    for request, version, values in checked:
        message, channels = _new_message(
            request.recipient,
            version,
            request.data,
            request.reason.strip()[:200],
            client,
            request.client_reference,
            request.idempotency_key,
            is_test,
            preferences.get(request.recipient.pk),
        )
        planned.append((message, version, values, channels, request))
    Message.objects.bulk_create([p[0] for p in planned])
    batch = []
    for message, version, values, channels, request in planned:
        made, inbox = _build_deliveries(
            message, version, values, channels, request.recipient, preferences.get(request.recipient.pk), now, None
        )
        message.planned = made  # type: ignore[attr-defined]
        batch.append((message, made, inbox))
        metrics.count_accepted(message.category)
    _store(batch, now)
    return [message for message, _made, _inbox in batch]


def _same_or_conflict(existing: Message, version: TemplateVersion, data: dict[str, Any]) -> Message:
    if existing.template_version.template_id != version.template_id or existing.data != data:
        raise Conflict("该幂等键已用于另一条内容不同的消息。", code="idempotency_key_reused")
    existing.replayed = True  # type: ignore[attr-defined]  # tells the API to answer 200, not 201
    return existing


def _create(
    recipient: Account | Address,
    version: TemplateVersion,
    values: dict[str, str],
    data: dict[str, Any],
    reason: str,
    client: ApiClient | None,
    client_reference: str,
    idempotency_key: str,
    is_test: bool,
) -> Message:
    now = timezone.now()
    account = recipient if isinstance(recipient, Account) else None
    preference = Preference.objects.filter(account=account).first() if account else None
    message, channels = _new_message(recipient, version, data, reason, client, client_reference, idempotency_key, is_test, preference)
    message.save(force_insert=True)
    deliveries, inbox = _build_deliveries(message, version, values, channels, recipient, preference, now, fallback_of=None)
    _store([(message, deliveries, inbox)], now)
    metrics.count_accepted(message.category)
    return message


def _new_message(
    recipient: Account | Address,
    version: TemplateVersion,
    data: dict[str, Any],
    reason: str,
    client: ApiClient | None,
    client_reference: str,
    idempotency_key: str,
    is_test: bool,
    preference: Preference | None,
) -> tuple[Message, list[str]]:
    """An unsaved message and the channels it goes out on at first."""
    tpl = version.template
    account = recipient if isinstance(recipient, Account) else None
    message = Message(
        template_version=version,
        category=tpl.category,
        recipient=account,
        direct_address_sealed="" if account else seal(json.dumps(dataclasses.asdict(recipient)), context="message.address"),  # type: ignore[arg-type]
        data=data,
        reason=reason,
        client=client,
        client_reference=client_reference[:100],
        idempotency_key=idempotency_key[:100],
        is_test=is_test,
    )
    wanted = preference_channels(preference, tpl.category)
    channels = [c for c in primary_channels(version) if c == Channel.INBOX or c in wanted]
    if account is None:
        channels = [c for c in channels if c != Channel.INBOX]
        if not channels:
            raise ValidationFailed("这个模板没有可以发往该地址的通道。", code="no_channel")
    # A person who turned every channel of this template off gets a message with no deliveries
    # ("suppressed"): recorded, never an error for the domain that sent it.
    return message, channels


def _build_deliveries(
    message: Message,
    version: TemplateVersion,
    values: dict[str, str],
    channels: list[str],
    recipient: Account | Address,
    preference: Preference | None,
    now: dt.datetime,
    fallback_of: Delivery | None,
) -> tuple[list[Delivery], InboxItem | None]:
    """Unsaved deliveries (and the inbox entry) of a message on the given channels."""
    tpl = version.template
    expires = now + timedelta(minutes=tpl.ttl_minutes)
    quiet = None
    if tpl.category not in MANDATORY_CATEGORIES and preference is not None:
        quiet = quiet_until(now, preference.quiet_start, preference.quiet_end)
    made: list[Delivery] = []
    inbox: InboxItem | None = None
    for channel in channels:
        delivery = Delivery(message=message, channel=channel, expires_at=expires, fallback_of=fallback_of)
        if channel == Channel.INBOX:
            delivery.subject = rendering.render(version.inbox_title, values)
            delivery.body = rendering.render(version.inbox_body, values)
        elif channel == Channel.SMS:
            delivery.body = rendering.sms_text(rendering.render(version.sms_body, values))
            delivery.segments = rendering.sms_segments(delivery.body)
        elif channel == Channel.EMAIL:
            delivery.subject = rendering.render(version.email_subject, values)
            delivery.body = rendering.render(version.email_body, values)
        else:
            delivery.subject = rendering.render(version.push_title, values)
            delivery.body = rendering.render(version.push_body, values)
        if message.is_test:
            # Test keys: everything is checked and recorded, nothing reaches anyone.
            delivery.state, delivery.provider, delivery.finished_at = Delivery.State.DELIVERED, "test", now
        elif channel == Channel.INBOX:
            delivery.state, delivery.provider, delivery.sent_at, delivery.finished_at = Delivery.State.DELIVERED, "inbox", now, now
            if message.recipient_id:
                inbox = InboxItem(
                    account_id=message.recipient_id,
                    message=message,
                    category=tpl.category,
                    title=delivery.subject,
                    body=delivery.body,
                    link=rendering.render(version.link, values) if version.link else "",
                )
        else:
            address = _address(recipient, channel)
            if not address and channel != Channel.PUSH:
                delivery.state, delivery.finished_at = Delivery.State.FAILED, now
                delivery.failure_code = "no_address"
                delivery.failure_reason = "收件人未登记手机号码" if channel == Channel.SMS else "收件人未登记电子邮箱"
            else:
                delivery.address_sealed = seal(address, context="delivery.address") if address else ""
                delivery.address_masked = _masked(channel, address)
                if quiet is not None and channel in INTRUSIVE_CHANNELS:
                    delivery.not_before = quiet
        made.append(delivery)
    return made, inbox


def _store(batch: list[tuple[Message, list[Delivery], InboxItem | None]], now: dt.datetime) -> None:
    """Save the deliveries and inbox entries of saved messages, queue the outside ones (one task
    per channel, or per channel and quiet-hours end), and owe department systems their reports."""
    pending: dict[tuple[str, dt.datetime | None], list[Delivery]] = {}
    deliveries: list[Delivery] = []
    inboxes: list[InboxItem] = []
    for message, made, inbox in batch:
        for delivery in made:
            delivery.message = message  # the message has its primary key now
            deliveries.append(delivery)
            if delivery.state == Delivery.State.CREATED:
                pending.setdefault((delivery.channel, delivery.not_before), []).append(delivery)
        if inbox is not None:
            inbox.message = message
            inboxes.append(inbox)
    for (_channel, run_after), group in pending.items():
        _enqueue(group, run_after=run_after)
    Delivery.objects.bulk_create(deliveries)
    if inboxes:
        InboxItem.objects.bulk_create(inboxes)
    callbacks: list[Callback] = []
    for delivery in deliveries:
        if delivery.state in Delivery.TERMINAL:
            metrics.count_finished(delivery.channel, delivery.state)
            report = _report(delivery, delivery.message)
            if report is not None:
                callbacks.append(report)
    if callbacks:
        Callback.objects.bulk_create(callbacks)
        for callback in callbacks:
            _enqueue_callback(callback)
    for message, made, _inbox in batch:
        for delivery in made:
            if delivery.failure_code == "no_address":
                audit_record(
                    actor=None,
                    action="message_delivery.failed",
                    object_type="message_delivery",
                    object_id=str(message.public_id),
                    after={"channel": delivery.channel, "code": delivery.failure_code},
                    reason=delivery.failure_reason,
                )
                _fallback(delivery, message, now)


def _fallback(delivery: Delivery, message: Message, now: dt.datetime) -> list[Delivery]:
    """A delivery ended failed or expired: deliver on the template's fallback channels that this
    message does not already use and the person accepts."""
    version = message.template_version
    chain = version.template.fallback.get(delivery.channel, [])
    if not chain:
        return []
    taken = set(message.deliveries.exclude(pk=delivery.pk).values_list("channel", flat=True))
    recipient: Account | Address
    if message.recipient_id:
        recipient = message.recipient  # type: ignore[assignment]
        preference = Preference.objects.filter(account_id=message.recipient_id).first()
        allowed = set(preference_channels(preference, message.category)) | {Channel.INBOX.value}
    else:
        recipient = Address(**json.loads(unseal(message.direct_address_sealed, context="message.address")))
        preference, allowed = None, {c.value for c in OUTSIDE_CHANNELS}
    channels = [c for c in chain if c not in taken and c != delivery.channel and c in allowed and c in version.channels()]
    if not message.recipient_id:
        channels = [c for c in channels if c != Channel.INBOX]
    if not channels:
        return []
    values = rendering.validate_data(version.placeholders, message.data)
    made, inbox = _build_deliveries(message, version, values, channels, recipient, preference, now, fallback_of=delivery)
    _store([(message, made, inbox)], now)
    return made


def _callback(delivery: Delivery, message: Message) -> None:
    """A delivery of a department system's message reached its end: owe that system a report."""
    callback = _report(delivery, message)
    if callback is not None:
        callback.save(force_insert=True)
        _enqueue_callback(callback)


def _report(delivery: Delivery, message: Message) -> Callback | None:
    client = message.client
    if client is None or not client.callback_url:
        return None
    return Callback(
        client=client,
        delivery=delivery,
        payload={
            "message_id": str(message.public_id),
            "reference": message.client_reference,
            "channel": delivery.channel,
            "status": delivery.state,
            "failure_code": delivery.failure_code,
            "failure_reason": delivery.failure_reason,
            "test": message.is_test,
            "at": (delivery.finished_at or timezone.now()).isoformat(),
        },
    )


# --- the delivery worker -------------------------------------------------------------------------


def _finish(delivery: Delivery, state: str, now: dt.datetime, code: str = "", reason: str = "") -> None:
    delivery.state = state
    delivery.finished_at = now
    delivery.lease_until = None
    delivery.failure_code = code[:40]
    delivery.failure_reason = reason[:200]
    delivery.save(update_fields=["state", "finished_at", "lease_until", "failure_code", "failure_reason", "updated_at"])
    metrics.count_finished(delivery.channel, state)
    message = delivery.message
    if state in (Delivery.State.FAILED, Delivery.State.EXPIRED):
        audit_record(
            actor=None,
            action=f"message_delivery.{state}",
            object_type="message_delivery",
            object_id=str(message.public_id),
            after={"channel": delivery.channel, "code": code, "attempts": delivery.attempts},
            reason=reason,
        )
        _fallback(delivery, message, now)
    _callback(delivery, message)


def deliveries_attempt(keys: list[str]) -> dict[str, int]:
    """The queue task's work: try each delivery named by key. Several at once when the provider is
    slow (MESSAGING_SEND_CONCURRENCY threads, each with its own database connection)."""
    ids = list(Delivery.objects.filter(key__in=keys).values_list("pk", flat=True))
    outcomes: dict[str, int] = {}
    workers = min(settings.MESSAGING_SEND_CONCURRENCY, len(ids))
    if workers <= 1:
        results = [delivery_attempt(pk) for pk in ids]
    else:
        from concurrent.futures import ThreadPoolExecutor

        from django.db import connection

        def attempt(pk: int) -> str:
            try:
                return delivery_attempt(pk)
            finally:
                connection.close()

        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(attempt, ids))
    for result in results:
        outcomes[result] = outcomes.get(result, 0) + 1
    return outcomes


def delivery_attempt(delivery_id: int) -> str:
    """Try one delivery. Safe to run twice, late or at once on two workers: the row lock and the
    state decide who sends, and a send is only ever repeated with the same attempt key."""
    now = timezone.now()
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("message__template_version__template").filter(pk=delivery_id).first()
        if delivery is None or delivery.state in Delivery.TERMINAL or delivery.state == Delivery.State.SENT:
            return "done"
        if delivery.state == Delivery.State.SENDING and delivery.lease_until and delivery.lease_until > now:
            return "busy"
        if delivery.not_before and delivery.not_before > now + timedelta(seconds=1):
            return "early"
        if now >= delivery.expires_at:
            _finish(delivery, Delivery.State.EXPIRED, now, "expired", "超过有效时长仍未能发出")
            return "expired"
        attempt = delivery.attempt_log.filter(finished_at=None).order_by("number").first()
        if attempt is None:
            number = delivery.attempt_log.count() + 1
            attempt = DeliveryAttempt.objects.create(delivery=delivery, number=number)
            delivery.attempts += 1
        delivery.state = Delivery.State.SENDING
        delivery.lease_until = now + timedelta(seconds=settings.MESSAGING_LEASE_SECONDS)
        delivery.save(update_fields=["state", "lease_until", "attempts", "updated_at"])
    provider = providers.provider_for(delivery.channel)
    address = unseal(delivery.address_sealed, context="delivery.address") if delivery.address_sealed else ""
    unsubscribe_url = ""
    message = delivery.message
    if message.recipient_id and message.category not in MANDATORY_CATEGORIES:
        unsubscribe_url = f"{settings.PUBLIC_BASE_URL}/messages/unsubscribe/{unsubscribe_token(message.recipient, message.category)}"  # type: ignore[arg-type]
    outgoing = providers.Outgoing(
        key=str(attempt.key), address=address, subject=delivery.subject, body=delivery.body, unsubscribe_url=unsubscribe_url
    )
    started = time.monotonic()
    try:
        accepted = provider.send(outgoing)
        failure: providers.ProviderFailure | None = None
    except providers.ProviderFailure as exc:
        failure = exc
    except Exception as exc:  # noqa: BLE001 - a vendor SDK raising anything else is a temporary fault
        failure = providers.TemporaryFailure("provider_error", f"通道异常：{exc.__class__.__name__}")
    outcome = "accepted" if failure is None else ("temporary" if failure.temporary else "refused")
    metrics.PROVIDER_SECONDS.labels(provider.name, outcome).observe(time.monotonic() - started)
    return _record(delivery.pk, attempt.pk, provider, accepted if failure is None else None, failure)


def _record(
    delivery_id: int,
    attempt_id: int,
    provider: providers.Provider,
    accepted: providers.Accepted | None,
    failure: providers.ProviderFailure | None,
) -> str:
    now = timezone.now()
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("message__template_version__template").get(pk=delivery_id)
        attempt = DeliveryAttempt.objects.select_for_update().get(pk=attempt_id)
        if attempt.finished_at is not None:
            return "recorded-elsewhere"  # a receipt or another worker got here first
        attempt.finished_at = now
        if accepted is not None:
            attempt.outcome = "accepted"
            attempt.provider_message_id = accepted.provider_message_id
            attempt.save()
            if delivery.state in Delivery.TERMINAL:
                return "done"
            delivery.provider = provider.name
            delivery.provider_message_id = accepted.provider_message_id
            delivery.sent_at = now
            delivery.lease_until = None
            delivery.state = Delivery.State.SENT
            delivery.save(update_fields=["provider", "provider_message_id", "sent_at", "lease_until", "state", "updated_at"])
            return "sent"
        assert failure is not None
        attempt.error = f"{failure.code} {failure.reason}"[:200]
        if failure.temporary and delivery.attempts < settings.MESSAGING_MAX_ATTEMPTS:
            attempt.outcome = "retry"
            attempt.save()
            delay = settings.MESSAGING_RETRY_SECONDS * (3 ** (delivery.attempts - 1))
            delivery.state = Delivery.State.CREATED
            delivery.lease_until = None
            delivery.not_before = now + timedelta(seconds=delay)
            delivery.failure_code, delivery.failure_reason = failure.code[:40], failure.reason[:200]
            delivery.save(update_fields=["state", "lease_until", "not_before", "failure_code", "failure_reason", "updated_at"])
            _requeue(delivery)
            return "retry"
        attempt.outcome = "failed"
        attempt.save()
        delivery.provider = provider.name
        _finish(delivery, Delivery.State.FAILED, now, failure.code, failure.reason)
        return "failed"


# --- receipts from providers -------------------------------------------------------------------


def receipts_record(*, provider_name: str, body: bytes, headers: dict[str, str]) -> dict[str, int]:
    """Take a provider's signed receipt batch. A bad signature is refused and audited; a repeated
    receipt changes nothing; a receipt for a message we do not know is counted and audited."""
    provider = providers.provider_named(provider_name)
    if provider is None:
        raise NotFound("没有这个回执通道。", code="receipt_provider_unknown")
    try:
        receipts = provider.parse_receipts(body, headers)
    except providers.BadReceipt as exc:
        audit_record(
            actor=None,
            action="message_receipt.refused",
            object_type="message_provider",
            object_id=provider_name,
            reason=f"{exc.code}: {exc.reason}",
        )
        raise PermissionDenied(exc.reason, code=exc.code) from exc
    counts = {"accepted": 0, "duplicate": 0, "unknown": 0}
    now = timezone.now()
    for receipt in receipts:
        with transaction.atomic():
            key = _uuid_or_none(receipt.client_key)
            attempt = DeliveryAttempt.objects.select_for_update().filter(key=key).first() if key else None
            if attempt is None:
                counts["unknown"] += 1
                audit_record(
                    actor=None,
                    action="message_receipt.unknown",
                    object_type="message_provider",
                    object_id=provider_name,
                    after={"provider_message_id": receipt.provider_message_id},
                )
                continue
            delivery = (
                Delivery.objects.select_for_update().select_related("message__template_version__template").get(pk=attempt.delivery_id)
            )
            if delivery.state in Delivery.TERMINAL:
                counts["duplicate"] += 1
                continue
            if attempt.finished_at is None:
                # The worker died after the provider took the message and before it wrote that
                # down: the receipt proves the send, so record it now.
                attempt.finished_at, attempt.outcome, attempt.provider_message_id = now, "accepted", receipt.provider_message_id
                attempt.save()
            delivery.provider = provider.name
            delivery.provider_message_id = receipt.provider_message_id
            delivery.sent_at = delivery.sent_at or now
            delivery.save(update_fields=["provider", "provider_message_id", "sent_at", "updated_at"])
            if receipt.delivered:
                _finish(delivery, Delivery.State.DELIVERED, now)
            else:
                _finish(delivery, Delivery.State.FAILED, now, receipt.code or "undelivered", receipt.reason or "运营商回执：未送达")
            counts["accepted"] += 1
    return counts


def _uuid_or_none(value: str) -> str | None:
    import uuid

    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


# --- sweeping, re-driving --------------------------------------------------------------------------


def messaging_sweep(*, limit: int = 500) -> dict[str, int]:
    """Put stalled work back on its feet; run every few seconds by the worker. Bounded per round.
    - a sending delivery whose lease ran out (its worker died): try again with the same attempt key
    - a created delivery long past due whose task is gone: queue it again
    - a created delivery past its expiry: expired
    - a sent delivery whose provider never reported back: expired
    - a pending callback long past due: queue it again"""
    now = timezone.now()
    counts = {"requeued": 0, "expired": 0, "callbacks": 0}
    from tongban.messaging import tasks

    lease = timedelta(seconds=settings.MESSAGING_LEASE_SECONDS)
    stale = list(Delivery.objects.filter(state=Delivery.State.SENDING, lease_until__lt=now).order_by("updated_at")[:limit]) + list(
        Delivery.objects.filter(state=Delivery.State.CREATED, updated_at__lt=now - timedelta(minutes=2), expires_at__gt=now)
        .exclude(not_before__gt=now - timedelta(minutes=2))
        .order_by("updated_at")[:limit]
    )
    alive = tasks.live_task_ids([d.task_id for d in stale if d.task_id], running_since=now - lease)
    waiting = []
    for delivery in stale:
        if delivery.task_id in alive:
            waiting.append(delivery.pk)  # still queued behind others: look again later
            continue
        _requeue(delivery)
        counts["requeued"] += 1
    Delivery.objects.filter(pk__in=waiting).update(updated_at=now)
    for delivery in Delivery.objects.select_related("message__template_version__template").filter(
        state=Delivery.State.CREATED, expires_at__lte=now
    )[:limit]:
        with transaction.atomic():
            locked = Delivery.objects.select_for_update().select_related("message__template_version__template").get(pk=delivery.pk)
            if locked.state == Delivery.State.CREATED:
                _finish(locked, Delivery.State.EXPIRED, now, "expired", "超过有效时长仍未能发出")
                counts["expired"] += 1
    cutoff = now - timedelta(hours=settings.MESSAGING_RECEIPT_TIMEOUT_HOURS)
    for delivery in Delivery.objects.filter(state=Delivery.State.SENT, sent_at__lt=cutoff, channel=Channel.SMS)[:limit]:
        with transaction.atomic():
            locked = Delivery.objects.select_for_update().select_related("message__template_version__template").get(pk=delivery.pk)
            if locked.state == Delivery.State.SENT:
                _finish(locked, Delivery.State.EXPIRED, now, "no_receipt", "超过时限未收到运营商回执")
                counts["expired"] += 1
    pending = list(Callback.objects.filter(state=Callback.State.PENDING, created_at__lt=now - timedelta(minutes=5)).order_by("id")[:limit])
    alive = tasks.live_task_ids([c.task_id for c in pending if c.task_id], running_since=now - timedelta(minutes=5))
    for callback in pending:
        if callback.task_id not in alive:
            _enqueue_callback(callback)
            counts["callbacks"] += 1
    return counts


def delivery_redrive(*, actor: Any, delivery_id: int, reason: str) -> Delivery:
    """An operator sends a failed or expired delivery again (after a provider outage, say)."""
    if not reason.strip():
        raise ValidationFailed("请填写重新投递的原因。", code="reason_required")
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("message__template_version__template").filter(pk=delivery_id).first()
        if delivery is None:
            raise NotFound("没有这条投递记录。", code="delivery_unknown")
        if delivery.state not in (Delivery.State.FAILED, Delivery.State.EXPIRED):
            raise Conflict("只有发送失败或已过期的投递才能重新投递。", code="redrive_state")
        if delivery.channel == Channel.INBOX or (not delivery.address_sealed and delivery.channel != Channel.PUSH):
            raise Conflict("这条投递没有可用的收件地址，无法重新投递。", code="redrive_no_address")
        before = {"state": delivery.state, "code": delivery.failure_code}
        now = timezone.now()
        delivery.state = Delivery.State.CREATED
        delivery.attempts = 0
        delivery.not_before = None
        delivery.finished_at = None
        delivery.failure_code = delivery.failure_reason = ""
        delivery.expires_at = now + timedelta(minutes=delivery.message.template_version.template.ttl_minutes)
        delivery.save()
        audit_record(
            actor=actor,
            action="message_delivery.redrive",
            object_type="message_delivery",
            object_id=str(delivery.message.public_id),
            before=before,
            after={"state": "created"},
            reason=reason,
        )
        _requeue(delivery)
    return delivery


# --- callbacks to department systems ---------------------------------------------------------------


def callback_signature(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def callback_deliver(callback_id: int, *, transport: Any = None) -> str:
    """POST one status report to the client's URL, signed with the client's secret. Retried with
    backoff up to CALLBACK_MAX_ATTEMPTS, then failed (visible to operators, who can re-drive)."""
    from tongban.common.http import http_transport

    send = transport or http_transport
    with transaction.atomic():
        callback = Callback.objects.select_for_update().select_related("client").filter(pk=callback_id).first()
        if callback is None or callback.state != Callback.State.PENDING:
            return "done"
        callback.attempts += 1
        callback.save(update_fields=["attempts"])
    body = json.dumps({"id": str(callback.event_id), **callback.payload}, ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    status = send(
        callback.client.callback_url,
        body,
        {
            "X-Tongban-Event": str(callback.event_id),
            "X-Tongban-Timestamp": timestamp,
            "X-Tongban-Signature": callback_signature(callback.client.callback_secret, timestamp, body),
        },
    )
    now = timezone.now()
    with transaction.atomic():
        callback = Callback.objects.select_for_update().get(pk=callback_id)
        if callback.state != Callback.State.PENDING:
            return "done"
        if 200 <= status < 300:
            callback.state, callback.finished_at, callback.last_error = Callback.State.DONE, now, ""
            callback.save(update_fields=["state", "finished_at", "last_error"])
            return "done"
        callback.last_error = f"HTTP {status}" if status else "连接失败或超时"
        if callback.attempts >= settings.CALLBACK_MAX_ATTEMPTS:
            callback.state, callback.finished_at = Callback.State.FAILED, now
            callback.save(update_fields=["state", "finished_at", "last_error"])
            audit_record(
                actor=None,
                action="message_callback.failed",
                object_type="api_client",
                object_id=str(callback.client.public_id),
                reason=callback.last_error,
            )
            return "failed"
        callback.save(update_fields=["last_error"])
        delay = settings.MESSAGING_RETRY_SECONDS * (2 ** (callback.attempts - 1))
        _enqueue_callback(callback, run_after=now + timedelta(seconds=delay))
        return "retry"


def callback_redrive(*, actor: Any, callback_id: int, reason: str) -> Callback:
    if not reason.strip():
        raise ValidationFailed("请填写重新推送的原因。", code="reason_required")
    with transaction.atomic():
        callback = Callback.objects.select_for_update().filter(pk=callback_id).first()
        if callback is None:
            raise NotFound("没有这条回调记录。", code="callback_unknown")
        if callback.state != Callback.State.FAILED:
            raise Conflict("只有推送失败的回调才能重新推送。", code="redrive_state")
        callback.state, callback.attempts, callback.finished_at = Callback.State.PENDING, 0, None
        callback.save(update_fields=["state", "attempts", "finished_at"])
        audit_record(
            actor=actor, action="message_callback.redrive", object_type="api_client", object_id=str(callback.client_id), reason=reason
        )
        _enqueue_callback(callback)
    return callback


# --- the inbox ---------------------------------------------------------------------------------


def inbox_mark_read(*, account: Account, item_id: str) -> InboxItem:
    item = _own_item(account, item_id)
    if item.read_at is None:
        InboxItem.objects.filter(pk=item.pk, read_at=None).update(read_at=timezone.now())
        item.refresh_from_db()
    return item


def inbox_mark_all_read(*, account: Account) -> int:
    return InboxItem.objects.filter(account=account, read_at=None, archived_at=None).update(read_at=timezone.now())


def inbox_archive(*, account: Account, item_id: str, archived: bool = True) -> InboxItem:
    item = _own_item(account, item_id)
    now = timezone.now()
    InboxItem.objects.filter(pk=item.pk).update(archived_at=now if archived else None, read_at=item.read_at or now)
    item.refresh_from_db()
    return item


def _own_item(account: Account, item_id: str) -> InboxItem:
    key = _uuid_or_none(item_id)
    item = InboxItem.objects.filter(account=account, public_id=key).first() if key else None
    if item is None:
        raise NotFound("没有找到这条消息。", code="message_unknown")
    return item


def account_notice(*, account: Account, change: str, reason: str) -> None:
    """identity's port: tell a person about a change to their account (template account-changed,
    an account-security message: no quiet hours, cannot be switched off)."""
    when = timezone.localtime(timezone.now(), LOCAL).strftime("%Y-%m-%d %H:%M")
    message_send(recipient=account, template="account-changed", data={"change": change[:20], "when": when}, reason=reason)
