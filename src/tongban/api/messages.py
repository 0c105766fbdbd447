"""/api/v1/messages: department systems send to platform users and follow delivery.

A department system authenticates with its API key (``Authorization: Bearer tb_live_...``) or with
an OAuth2 access token from the client-credentials grant (scope ``messages``) of the OIDC application
linked to it (``ApiClient.application``); a token counts as the system's live key. A test key
(``tb_test_...``, keys only) runs every check and records the message, which then goes nowhere. Each
client is rate limited (its own per-minute allowance, 3,000 by default) and sees only its own sends.
Delivery reports are POSTed to the client's registered callback URL, signed with its secret:
``X-Tongban-Signature`` = hex HMAC-SHA256 of ``<X-Tongban-Timestamp>.<body>``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from ninja import Field, Header, Router, Schema, Status

from tongban.api.auth import ClientKey, RateLimited
from tongban.api.schemas import ErrorOut
from tongban.common.audit import audit_record
from tongban.common.crypto import blind_index
from tongban.common.errors import Conflict, DomainError, NotFound, ValidationFailed
from tongban.common.ratelimit import over_limit
from tongban.identity.models import Account, ApiKey
from tongban.identity.services import account_find_by_id_number
from tongban.messaging import selectors, services
from tongban.messaging.models import Delivery, Message

router = Router(tags=["消息"])


class RecipientIn(Schema):
    account_id: uuid.UUID | None = Field(None, description="平台账号标识（账号的 public_id）")
    id_number: str | None = Field(None, description="公民身份号码：由平台在服务端匹配账号，不会出现在任何日志或返回中")


class MessageIn(Schema):
    template: str = Field(..., description="本部门的消息模板代码")
    recipient: RecipientIn
    data: dict[str, Any] = Field(default_factory=dict, description="模板参数，必须与模板的占位符一一对应")
    reason: str = Field(..., description="发送事由（审计用）", max_length=200)
    reference: str = Field("", description="调用方自己的业务编号，回调中原样带回", max_length=100)


class DeliveryOut(Schema):
    channel: str
    status: str
    address: str
    failure_code: str
    failure_reason: str
    sent_at: dt.datetime | None
    finished_at: dt.datetime | None


class MessageOut(Schema):
    id: uuid.UUID
    template: str
    template_version: int
    reference: str
    status: str = Field(
        ...,
        description=(
            "各通道中最好的状态：delivered > sent > sending > created > expired > failed；suppressed 表示收件人关闭了该模板的全部通道"
        ),
    )
    test: bool
    created_at: dt.datetime
    deliveries: list[DeliveryOut]


class MessagePage(Schema):
    items: list[MessageOut]
    next_cursor: str | None


class ReceiptsOut(Schema):
    accepted: int
    duplicate: int
    unknown: int


def _out(message: Message) -> MessageOut:
    deliveries = sorted(message.deliveries.all(), key=lambda d: d.pk)
    return MessageOut(
        id=message.public_id,
        template=message.template_version.template.code,
        template_version=message.template_version.version,
        reference=message.client_reference,
        status=selectors.message_status(deliveries),
        test=message.is_test,
        created_at=message.created_at,
        deliveries=[_delivery(d) for d in deliveries],
    )


def _delivery(delivery: Delivery) -> DeliveryOut:
    return DeliveryOut(
        channel=delivery.channel,
        status=delivery.state,
        address=delivery.address_masked,
        failure_code=delivery.failure_code,
        failure_reason=delivery.failure_reason,
        sent_at=delivery.sent_at,
        finished_at=delivery.finished_at,
    )


@router.post(
    "/messages",
    auth=ClientKey(),
    response={201: MessageOut, 200: MessageOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    summary="向平台用户发送消息",
    description="按账号标识或身份证号（服务端匹配）发送；同一 `Idempotency-Key` 重复提交只产生一条消息（返回 200 与原消息）。",
    operation_id="send_message",
)
def send_message(request: HttpRequest, payload: MessageIn, idempotency_key: str = Header("", alias="Idempotency-Key")) -> Status:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    if len(idempotency_key) > 100:
        raise ValidationFailed("Idempotency-Key 最长 100 个字符。", code="idempotency_key_too_long")
    try:
        recipient = _recipient(payload.recipient)
        with transaction.atomic():
            message = _send(key, recipient, payload, idempotency_key)
    except DomainError as exc:
        # A refused send leaves a trace for the department and the operators (never the data:
        # it may hold personal details).
        audit_record(
            actor=None,
            action="message.refused",
            object_type="api_client",
            object_id=str(key.client.public_id),
            after={"code": exc.code, "template": payload.template[:64], "reference": payload.reference},
            reason=exc.message,
        )
        raise
    return Status(200 if getattr(message, "replayed", False) else 201, _out(message))


def _send(key: ApiKey, recipient: Account, payload: MessageIn, idempotency_key: str) -> Message:
    return services.message_send(
        recipient=recipient,
        template=payload.template,
        data=payload.data,
        reason=payload.reason,
        client=key.client,
        client_reference=payload.reference,
        idempotency_key=idempotency_key,
        is_test=key.kind == ApiKey.Kind.TEST,
    )


class BatchIn(Schema):
    messages: list[MessageIn] = Field(..., description="最多 1000 条；整批校验，任何一条不合格则整批不发送")


class BatchItemOut(Schema):
    id: uuid.UUID
    reference: str
    status: str


class BatchOut(Schema):
    count: int
    items: list[BatchItemOut]


@router.post(
    "/messages/batch",
    auth=ClientKey(),
    response={201: BatchOut, 200: BatchOut, 401: ErrorOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut},
    summary="批量发送（同一请求最多 1000 条）",
    description=(
        "整批校验、整批写入：任何一条不合格（模板、参数、收件人）时返回 422 `batch_refused`，`details` 逐条列出问题，"
        "整批都不发送。带 `Idempotency-Key` 重复提交只生效一次（返回 200 与原来的各条消息）。"
        "每条消息计入本系统每分钟调用上限。"
    ),
    operation_id="send_messages",
)
def send_messages(request: HttpRequest, payload: BatchIn, idempotency_key: str = Header("", alias="Idempotency-Key")) -> Status:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    count = len(payload.messages)
    if count > services.MAX_BATCH:
        raise ValidationFailed(f"一批最多 {services.MAX_BATCH} 条消息。", code="batch_too_large")
    if count > 1 and over_limit(f"client:{key.client_id}", key.client.rate_limit_per_minute, cost=count - 1):
        raise RateLimited(f"调用过于频繁：每分钟最多 {key.client.rate_limit_per_minute} 条，请稍后重试。")
    if len(idempotency_key) > 90:
        raise ValidationFailed("Idempotency-Key 最长 90 个字符。", code="idempotency_key_too_long")
    keys = [f"{idempotency_key}#{i}" if idempotency_key else "" for i in range(count)]
    if idempotency_key:
        replay = _batch_replay(key, keys, payload)
        if replay is not None:
            return Status(200, replay)
    try:
        recipients = _recipients([m.recipient for m in payload.messages])
        requests = [
            services.SendRequest(
                recipient=recipients[i],
                template=m.template,
                data=m.data,
                reason=m.reason,
                client_reference=m.reference,
                idempotency_key=keys[i],
            )
            for i, m in enumerate(payload.messages)
        ]
        with transaction.atomic():
            messages = services.message_send_many(requests=requests, client=key.client, is_test=key.kind == ApiKey.Kind.TEST)
    except IntegrityError:
        replay = _batch_replay(key, keys, payload)  # the same batch, sent twice at once: the other one stands
        if replay is None:
            raise
        return Status(200, replay)
    except DomainError as exc:
        audit_record(
            actor=None,
            action="message.refused",
            object_type="api_client",
            object_id=str(key.client.public_id),
            after={"code": exc.code, "batch": count},
            reason=exc.message,
        )
        raise
    items = [BatchItemOut(id=m.public_id, reference=m.client_reference, status=selectors.message_status(m.planned)) for m in messages]  # type: ignore[attr-defined]
    return Status(201, BatchOut(count=len(items), items=items))


def _batch_replay(key: ApiKey, keys: list[str], payload: BatchIn) -> BatchOut | None:
    """A batch sent again with its Idempotency-Key: its messages are keyed ``<key>#<index>``, so
    the same messages come back; different content under the same key is a conflict."""
    found = {
        m.idempotency_key: m
        for m in Message.objects.filter(client=key.client, idempotency_key__in=keys)
        .select_related("template_version__template")
        .prefetch_related("deliveries")
    }
    if not found:
        return None
    ordered = [found.get(k) for k in keys]
    items = []
    for message, given in zip(ordered, payload.messages, strict=True):
        if message is None or message.template_version.template.code != given.template or message.data != given.data:
            raise Conflict("该幂等键已用于内容不同的另一批消息。", code="idempotency_key_reused")
        status = selectors.message_status(list(message.deliveries.all()))
        items.append(BatchItemOut(id=message.public_id, reference=message.client_reference, status=status))
    return BatchOut(count=len(items), items=items)


def _recipients(given: list[RecipientIn]) -> list[Account]:
    """Resolve a batch's recipients in two queries; unknown ones are reported per message."""
    by_id = {a.public_id: a for a in Account.objects.filter(public_id__in=[g.account_id for g in given if g.account_id], is_active=True)}
    indexes = {g.id_number: blind_index(g.id_number.upper(), kind="id_number") for g in given if g.id_number}
    by_index = {a.id_number_index: a for a in Account.objects.filter(id_number_index__in=indexes.values(), is_active=True)}
    found: list[Account] = []
    errors = []
    for index, g in enumerate(given):
        if (g.account_id is None) == (g.id_number is None):
            errors.append({"index": index, "code": "recipient_ambiguous", "message": "收件人请二选一：account_id 或 id_number。"})
            continue
        account = by_id.get(g.account_id) if g.account_id else by_index.get(indexes[g.id_number or ""])
        if account is None:
            errors.append({"index": index, "code": "recipient_unknown", "message": "平台上没有这位用户，或其账号已停用。"})
            continue
        found.append(account)
    if errors:
        raise ValidationFailed(f"这批消息中有 {len(errors)} 条不符合要求，整批未发送，请改正后重发。", code="batch_refused", details=errors)
    return found


def _recipient(given: RecipientIn) -> Account:
    if (given.account_id is None) == (given.id_number is None):
        raise ValidationFailed("收件人请二选一：account_id 或 id_number。", code="recipient_ambiguous")
    if given.account_id is not None:
        account = Account.objects.filter(public_id=given.account_id, is_active=True).first()
    else:
        account = account_find_by_id_number(given.id_number or "")
    if account is None:
        raise NotFound("平台上没有这位用户，或其账号已停用。", code="recipient_unknown")
    return account


@router.get(
    "/messages/{message_id}",
    auth=ClientKey(),
    response={200: MessageOut, 401: ErrorOut, 404: ErrorOut, 429: ErrorOut},
    summary="查询一条消息的投递状态",
    operation_id="get_message",
)
def get_message(request: HttpRequest, message_id: str) -> MessageOut:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    message = selectors.client_message_get(client=key.client, message_id=message_id)
    if message is None:
        raise NotFound("没有这条消息。", code="message_unknown")
    return _out(message)


@router.get(
    "/messages",
    auth=ClientKey(),
    response={200: MessagePage, 400: ErrorOut, 401: ErrorOut, 429: ErrorOut},
    summary="本系统发出的消息（新的在前，游标分页）",
    operation_id="list_messages",
)
def list_messages(request: HttpRequest, cursor: str | None = None, limit: int = 50) -> MessagePage:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    page = selectors.client_messages(client=key.client, cursor=cursor, limit=max(1, min(limit, 200)))
    return MessagePage(items=[_out(m) for m in page.items], next_cursor=page.next_cursor)


@router.post(
    "/messages/receipts/{provider}",
    auth=None,
    response={200: ReceiptsOut, 403: ErrorOut, 404: ErrorOut},
    summary="短信等通道的送达回执（由通道服务商调用，凭签名认证）",
    operation_id="post_receipts",
)
def post_receipts(request: HttpRequest, provider: str) -> ReceiptsOut:
    headers = dict(request.headers.items())
    counts = services.receipts_record(provider_name=provider, body=request.body, headers=headers)
    return ReceiptsOut(**counts)
