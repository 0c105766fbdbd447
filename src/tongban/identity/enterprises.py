"""Enterprises and the mandates of their people (STANDARDS.md, Identity).

The legal representative holds the e-business licence and signs in for the enterprise with it;
they may appoint up to five managers; the legal representative or a manager authorises agents, in
full or precisely (listed items, a period). Revocation takes effect at once: the mandate row is
what every check reads, sessions acting under it fall back to the person, and access tokens issued
under it are revoked.

Writes are keyword-only, one transaction each, audited, and tell the grantee through the message
centre. Reads for the other domains: ``mandate_allows`` (may this person act for this enterprise on
this item now?) and ``mandates_of``.

Layers (ADR 0001): identity sits below the catalogue and the message centre, so this module never
imports them. Its two calls upward — "do these item codes exist?" and "send this notice" — go
through ``identity.ports``, which those domains connect when the app registry is ready.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from tongban.common.audit import audit_record
from tongban.common.codes import is_valid_item_base_code, is_valid_uscc
from tongban.common.crypto import blind_index
from tongban.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tongban.identity import legal_persons, ports, sessions
from tongban.identity.models import Account, Enterprise, LoginSession, Mandate

MAX_MANAGERS = 5
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
LOCAL = ZoneInfo("Asia/Shanghai")
Role = Mandate.Role
Scope = Mandate.Scope
ROLE_LABELS = {Role.LEGAL_REP: "法定代表人", Role.MANAGER: "管理员", Role.AGENT: "经办人"}


# --- reads ------------------------------------------------------------------------------------------


def _current(now: dt.datetime) -> Q:
    """Not revoked and not yet ended (it may still be about to start)."""
    return Q(revoked_at=None) & (Q(valid_until=None) | Q(valid_until__gt=now))


def _live(now: dt.datetime) -> Q:
    return _current(now) & Q(valid_from__lte=now)


def normalise_credit_code(value: str) -> str:
    return (value or "").strip().upper()


def mandates_of(account: Account) -> list[Mandate]:
    """This person's current mandates (live, or granted to start later), legal representative first.
    Revoked and expired ones are left out: they no longer let anyone do anything."""
    order = {Role.LEGAL_REP: 0, Role.MANAGER: 1, Role.AGENT: 2}
    found = list(Mandate.objects.select_related("enterprise").filter(_current(timezone.now()), grantee=account))
    return sorted(found, key=lambda m: (order.get(Role(m.role), 3), m.enterprise.name, m.created_at))


def mandate_is_live(mandate: Mandate | None) -> bool:
    return sessions.mandate_is_live(mandate)


def mandate_allows(account: Account, enterprise_code: str, item_code: str, *, at: dt.datetime | None = None) -> bool:
    """Whether ``account`` may act for the enterprise ``enterprise_code`` on the item ``item_code``
    at ``at`` (now by default): a mandate live at that moment (revoked only later, started, not
    ended) in full, or precise and listing the item. ``item_code`` is the 12-character base code;
    a 31-character implementation code is read by its base code."""
    if account is None or not getattr(account, "pk", None):
        return False
    moment = at or timezone.now()
    base = (item_code or "").strip().upper()
    if len(base) == 31:
        base = base[-12:]
    candidates = Mandate.objects.filter(
        Q(revoked_at=None) | Q(revoked_at__gt=moment),
        Q(valid_until=None) | Q(valid_until__gt=moment),
        grantee=account,
        enterprise__credit_code=normalise_credit_code(enterprise_code),
        valid_from__lte=moment,
    ).only("scope", "items")
    return any(m.scope == Scope.FULL or base in (m.items or []) for m in candidates)


def managing_mandate(account: Account | None, credit_code: str) -> Mandate | None:
    """The live mandate by which this person manages the enterprise (legal representative or
    manager), or None: anyone else learns nothing about the enterprise."""
    if account is None or not getattr(account, "pk", None):
        return None
    found = Mandate.objects.select_related("enterprise").filter(
        _live(timezone.now()),
        grantee=account,
        enterprise__credit_code=normalise_credit_code(credit_code),
        role__in=[Role.LEGAL_REP, Role.MANAGER],
    )
    return min(found, key=lambda m: 0 if m.role == Role.LEGAL_REP else 1, default=None)


def enterprise_people(enterprise: Enterprise) -> dict[str, list[Mandate]]:
    """The enterprise's current managers and agents, and the last revoked ones, for its page."""
    now = timezone.now()
    current = list(
        Mandate.objects.select_related("grantee", "granted_by")
        .filter(_current(now), enterprise=enterprise, role__in=[Role.MANAGER, Role.AGENT])
        .order_by("created_at")
    )
    ended = list(
        Mandate.objects.select_related("grantee", "revoked_by")
        .filter(~_current(now), enterprise=enterprise, role__in=[Role.MANAGER, Role.AGENT])
        .order_by("-revoked_at", "-valid_until")[:10]
    )
    return {
        "managers": [m for m in current if m.role == Role.MANAGER],
        "agents": [m for m in current if m.role == Role.AGENT],
        "ended": ended,
    }


def mandate_find(public_id: str, *, account: Account | None = None, enterprise: Enterprise | None = None) -> Mandate | None:
    """A mandate by its public id, only if it is this person's or this enterprise's."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    query = Mandate.objects.select_related("enterprise", "grantee").filter(public_id=key)
    if account is not None:
        query = query.filter(grantee=account)
    if enterprise is not None:
        query = query.filter(enterprise=enterprise)
    return query.first()


# --- upward calls (see the module's docstring) ---------------------------------------------------


def _catalogue_unknown(codes: list[str]) -> list[str]:
    """The codes that name no base item of the catalogue (through identity's port)."""
    return ports.unknown_item_codes(codes)


def _notify(*, grantee: Account, change: str, reason: str) -> None:
    """An account-security notice to the grantee, in the caller's transaction so that the notice
    and the change commit together (through identity's port to the message centre)."""
    ports.account_notice(account=grantee, change=change, reason=reason)


def _headline(enterprise: Enterprise, tail: str) -> str:
    """``<enterprise name><tail>`` cut to the notice's 20 characters, the tail kept whole."""
    room = 20 - len(tail)
    name = enterprise.name if len(enterprise.name) <= room else enterprise.name[: room - 1] + "…"
    return name + tail


# --- helpers for the writes ---------------------------------------------------------------------


def _snapshot(mandate: Mandate) -> dict[str, Any]:
    return {
        "enterprise": mandate.enterprise.credit_code,
        "grantee": str(mandate.grantee.public_id),
        "role": mandate.role,
        "scope": mandate.scope,
        "items": list(mandate.items or []),
        "valid_from": mandate.valid_from.isoformat(),
        "valid_until": mandate.valid_until.isoformat() if mandate.valid_until else None,
    }


def _roles(actor: Any, enterprise: Enterprise, now: dt.datetime) -> set[str]:
    if actor is None or not getattr(actor, "pk", None):
        return set()
    return set(Mandate.objects.filter(_live(now), grantee=actor, enterprise=enterprise).values_list("role", flat=True))


def _grantee(*, grantee: Account | None, grantee_mobile: str) -> Account:
    if grantee is None:
        mobile = (grantee_mobile or "").strip()
        if not MOBILE.match(mobile):
            raise ValidationFailed("手机号码格式不正确，请填写对方注册通办时使用的 11 位手机号。", code="invalid_mobile")
        grantee = (
            Account.objects.filter(mobile_index=blind_index(mobile, kind="mobile"), kind=Account.Kind.CITIZEN, is_active=True)
            .order_by("pk")
            .first()
        )
        if grantee is None:
            raise NotFound("没有找到使用这个手机号的通办用户。请对方先注册通办并完成实名认证，再来授权。", code="grantee_not_found")
    if grantee.kind != Account.Kind.CITIZEN or not grantee.is_active:
        raise ValidationFailed("只能授权给个人用户。", code="grantee_not_citizen")
    if not grantee.id_number_index:
        raise ValidationFailed("对方尚未完成实名认证，请对方先在通办完成实名认证，再来授权。", code="grantee_not_verified")
    return grantee


def _lock(enterprise: Enterprise) -> Enterprise:
    """Serialise the enterprise's mandate changes (the manager limit holds under concurrency)."""
    return Enterprise.objects.select_for_update().get(pk=enterprise.pk)


def _revoke(*, mandate: Mandate, actor: Account | None, reason: str) -> None:
    """Revoke now (inside the caller's transaction): the row, the sessions acting under it, the
    tokens issued under it, the audit row and the grantee's notice."""
    before = {"revoked_at": None}
    mandate.revoked_at = timezone.now()
    mandate.revoked_by = actor
    mandate.revoke_reason = reason[:200]
    mandate.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
    fallen_back = LoginSession.objects.filter(acting_mandate=mandate).update(acting_mandate=None)
    tokens = sessions.tokens_revoke_for_mandate(mandate)
    audit_record(
        actor=actor,
        action="mandate.revoke",
        object_type="mandate",
        object_id=str(mandate.public_id),
        before=before,
        after={**_snapshot(mandate), "revoked_at": mandate.revoked_at.isoformat(), "sessions": fallen_back, "tokens": tokens},
        reason=reason,
    )
    label = ROLE_LABELS[Role(mandate.role)]
    tail = f"撤销了您的{label}授权" if actor is not None else f"已解除您的{label}身份"
    _notify(grantee=mandate.grantee, change=_headline(mandate.enterprise, tail), reason="企业授权变更通知")


def _grant(*, actor: Account | None, enterprise: Enterprise, grantee: Account, role: str, **fields: Any) -> Mandate:
    mandate = Mandate.objects.create(enterprise=enterprise, grantee=grantee, role=role, granted_by=actor, **fields)
    audit_record(
        actor=actor or grantee, action="mandate.grant", object_type="mandate", object_id=str(mandate.public_id), after=_snapshot(mandate)
    )
    tail = "确认您为法定代表人" if role == Role.LEGAL_REP else f"授权您为{ROLE_LABELS[Role(role)]}"
    _notify(grantee=grantee, change=_headline(enterprise, tail), reason="企业授权变更通知")
    return mandate


# --- writes -----------------------------------------------------------------------------------------


def enterprise_login_as_legal_rep(*, account: Account, credit_code: str, assertion: str) -> Mandate:
    """The legal representative signs in for the enterprise with the e-business licence.

    Checks the enterprise and its legal representative in the legal-person base and that the signed-in
    person is that legal representative (by ID number, compared as blind indexes), verifies the
    app's assertion (once), then records the enterprise and the legal representative's mandate.
    Idempotent: signing in again returns the same mandate. When the base names a new legal
    representative, the former one's mandate is revoked in the same transaction."""
    code = normalise_credit_code(credit_code)
    if not is_valid_uscc(code):
        raise ValidationFailed("统一社会信用代码校验未通过，请核对后重新输入（18 位，字母大写）。", code="invalid_credit_code")
    if account.kind != Account.Kind.CITIZEN or not account.id_number_index:
        raise PermissionDenied("请先以个人身份完成实名认证，再以法定代表人身份登录。", code="not_verified")
    person = legal_persons.legal_person_base().check(code)
    if person is None:
        raise NotFound("法人库中没有这家企业。请核对统一社会信用代码。", code="enterprise_not_found")
    rep_index = blind_index(person.legal_rep_id_number.upper(), kind="id_number")
    if not secrets.compare_digest(rep_index, account.id_number_index):
        raise PermissionDenied(
            "法人库登记的法定代表人不是您本人，不能以法定代表人身份登录。如需为企业办事，请联系企业的法定代表人或管理员为您授权。",
            code="not_legal_rep",
        )
    legal_persons.elicence_app().verify(assertion, credit_code=code)
    now = timezone.now()
    with transaction.atomic():
        try:
            with transaction.atomic():
                enterprise, created = Enterprise.objects.get_or_create(
                    credit_code=code,
                    defaults={
                        "name": person.name,
                        "legal_rep_name": person.legal_rep_name,
                        "legal_rep_id_index": rep_index,
                        "verified_at": now,
                    },
                )
        except IntegrityError:  # a concurrent first sign-in made it
            enterprise, created = Enterprise.objects.get(credit_code=code), False
        enterprise = _lock(enterprise)
        before = {"name": enterprise.name, "legal_rep_name": enterprise.legal_rep_name, "legal_rep_changed": False}
        rep_changed = enterprise.legal_rep_id_index != rep_index
        enterprise.name, enterprise.legal_rep_name, enterprise.legal_rep_id_index = person.name, person.legal_rep_name, rep_index
        enterprise.verified_at = now
        enterprise.save(update_fields=["name", "legal_rep_name", "legal_rep_id_index", "verified_at"])
        if created or rep_changed or before["name"] != person.name:
            audit_record(
                actor=account,
                action="enterprise.create" if created else "enterprise.update",
                object_type="enterprise",
                object_id=enterprise.credit_code,
                before=None if created else before,
                after={"name": person.name, "legal_rep_name": person.legal_rep_name, "legal_rep_changed": rep_changed},
                reason="电子营业执照登录，法人库核验",
            )
        for former in Mandate.objects.select_related("enterprise", "grantee").filter(
            _current(now), enterprise=enterprise, role=Role.LEGAL_REP
        ):
            if former.grantee_id != account.pk:
                _revoke(mandate=former, actor=None, reason="法人库登记的法定代表人已变更")
        mandate = (
            Mandate.objects.select_related("enterprise")
            .filter(_live(now), enterprise=enterprise, role=Role.LEGAL_REP, grantee=account)
            .first()
        )
        if mandate is None:
            mandate = _grant(actor=None, enterprise=enterprise, grantee=account, role=Role.LEGAL_REP, scope=Scope.FULL, valid_from=now)
        audit_record(
            actor=account,
            action="enterprise.legal_rep_sign_in",
            object_type="enterprise",
            object_id=enterprise.credit_code,
            after={"mandate": str(mandate.public_id)},
        )
    return mandate


def manager_appoint(*, actor: Account, enterprise: Enterprise, grantee: Account | None = None, grantee_mobile: str = "") -> Mandate:
    """The legal representative appoints a manager (at most five live at a time)."""
    person = _grantee(grantee=grantee, grantee_mobile=grantee_mobile)
    with transaction.atomic():
        enterprise = _lock(enterprise)
        now = timezone.now()
        if Role.LEGAL_REP not in _roles(actor, enterprise, now):
            raise PermissionDenied("只有企业的法定代表人可以设置管理员。", code="not_legal_rep")
        if person.pk == actor.pk:
            raise ValidationFailed("您是法定代表人，本身就有全部权限，无需设自己为管理员。", code="grantee_is_actor")
        current = Mandate.objects.filter(_current(now), enterprise=enterprise, role=Role.MANAGER)
        if current.filter(grantee=person).exists():
            raise Conflict("对方已经是这家企业的管理员。", code="already_manager")
        if current.count() >= MAX_MANAGERS:
            raise Conflict(
                f"每家企业最多设置 {MAX_MANAGERS} 名管理员，现已设满。请先撤销一名管理员，再设置新的管理员。", code="managers_full"
            )
        return _grant(actor=actor, enterprise=enterprise, grantee=person, role=Role.MANAGER, scope=Scope.FULL, valid_from=now)


def normalise_items(items: Iterable[str] | str) -> list[str]:
    """Item codes from a list or from text (spaces, commas, 、 or new lines between), upper-cased,
    each once, in the order given."""
    if isinstance(items, str):
        items = re.split(r"[\s,，、;；]+", items)
    seen: list[str] = []
    for raw in items:
        code = (raw or "").strip().upper()
        if code and code not in seen:
            seen.append(code)
    return seen


def agent_authorise(
    *,
    actor: Account,
    enterprise: Enterprise,
    scope: str,
    grantee: Account | None = None,
    grantee_mobile: str = "",
    items: Iterable[str] | str = (),
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
) -> Mandate:
    """A manager or the legal representative authorises an agent: in full (items ignored; may be
    open-ended) or precisely (at least one catalogue item and an end)."""
    if scope not in Scope.values:
        raise ValidationFailed("请选择授权方式：全部授权或精准授权。", code="invalid_scope")
    codes = normalise_items(items) if scope == Scope.PRECISE else []
    now = timezone.now()
    start = valid_from or now
    if scope == Scope.PRECISE:
        if not codes:
            raise ValidationFailed("精准授权至少要选择一个事项，请填写事项编码。", code="items_required")
        malformed = [code for code in codes if not is_valid_item_base_code(code)]
        if malformed:
            raise ValidationFailed(
                f"事项编码应为 12 位数字或大写字母：{'、'.join(malformed[:5])}。", code="invalid_items", details={"items": malformed}
            )
        if valid_until is None:
            raise ValidationFailed("精准授权必须写明截止日期。", code="end_required")
    if valid_until is not None and valid_until <= max(start, now):
        raise ValidationFailed("截止日期要晚于开始日期，且不能早于今天。", code="invalid_period")
    person = _grantee(grantee=grantee, grantee_mobile=grantee_mobile)
    if codes:
        unknown = _catalogue_unknown(codes)
        if unknown:
            raise ValidationFailed(
                f"事项目录中没有这些事项：{'、'.join(unknown[:5])}。请核对事项编码。", code="unknown_items", details={"items": unknown}
            )
    with transaction.atomic():
        enterprise = _lock(enterprise)
        roles = _roles(actor, enterprise, now)
        if not roles & {Role.LEGAL_REP, Role.MANAGER}:
            raise PermissionDenied("只有企业的法定代表人或管理员可以授权经办人。", code="not_manager")
        if person.pk == actor.pk:
            raise ValidationFailed("不能给自己授权。", code="grantee_is_actor")
        held = set(Mandate.objects.filter(_current(now), enterprise=enterprise, grantee=person).values_list("role", flat=True))
        if held & {Role.LEGAL_REP, Role.MANAGER}:
            raise Conflict("对方已是这家企业的法定代表人或管理员，本身就可以办事，无需再授权为经办人。", code="already_manager")
        if Role.AGENT in held:
            raise Conflict("对方已经是这家企业的经办人。如要改变授权范围或期限，请先撤销原授权，再重新授权。", code="already_agent")
        return _grant(
            actor=actor,
            enterprise=enterprise,
            grantee=person,
            role=Role.AGENT,
            scope=scope,
            items=codes,
            valid_from=start,
            valid_until=valid_until,
        )


def mandate_revoke(*, actor: Account, mandate: Mandate, reason: str) -> Mandate:
    """Revoke a manager's or an agent's mandate now. The legal representative revokes both; a
    manager revokes agents. Revoking twice changes nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("请填写撤销原因。", code="reason_required")
    with transaction.atomic():
        _lock(mandate.enterprise)
        mandate = Mandate.objects.select_for_update().select_related("enterprise", "grantee").get(pk=mandate.pk)
        roles = _roles(actor, mandate.enterprise, timezone.now())
        allowed = (Role.LEGAL_REP in roles and mandate.role in (Role.MANAGER, Role.AGENT)) or (
            Role.MANAGER in roles and mandate.role == Role.AGENT
        )
        if not allowed:
            raise PermissionDenied("您没有撤销这项授权的权限。", code="revoke_forbidden")
        if mandate.revoked_at is None:
            _revoke(mandate=mandate, actor=actor, reason=reason)
    return mandate


def acting_switch(*, login_session: LoginSession, mandate: Mandate | None) -> LoginSession:
    """Act for an enterprise under one of this person's live mandates, or (None) as oneself."""
    with transaction.atomic():
        login = LoginSession.objects.select_for_update().select_related("account").get(pk=login_session.pk)
        if login.ended_at is not None:
            raise PermissionDenied("登录已失效，请重新登录。", code="session_ended")
        if mandate is not None:
            mandate = Mandate.objects.select_related("enterprise").filter(pk=mandate.pk, grantee=login.account).first()
            if mandate is None or not sessions.mandate_is_live(mandate):
                raise PermissionDenied("这项授权已失效或不属于您，不能以此身份办事。", code="mandate_not_live")
        before = str(login.acting_mandate.public_id) if login.acting_mandate_id and login.acting_mandate else None
        login.acting_mandate = mandate
        login.save(update_fields=["acting_mandate"])
        audit_record(
            actor=login.account,
            action="identity.acting_switch",
            object_type="account",
            object_id=str(login.account.public_id),
            before={"mandate": before},
            after={
                "mandate": str(mandate.public_id) if mandate else None,
                "enterprise": mandate.enterprise.credit_code if mandate else None,
                "role": mandate.role if mandate else None,
                "session": str(login.public_id),
            },
        )
    login_session.acting_mandate = mandate
    return login
