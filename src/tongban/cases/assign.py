"""Who works on a case (认领, 释放, 改派) and the clerk's steps taken under that rule, plus delivery.

The rule: staff holding a handling role (window clerk, reviewer, approver, department
administrator) in the case's department may see and claim it; operators reach every department.
Once a case is claimed, the others still see it, but only its assignee, an administrator of its
department or an operator acts on it; an unclaimed case is open to every handling clerk of the
department (a window clerk accepts it, a reviewer then claims it for the review). Read-only roles
(auditors) never act.

Claims change who works on the case, not the case itself: they do not move ``Case.version`` (the
lock clerks act under), so a clerk's open page stays valid after a colleague claims another case.
Claims and steps lock the case row first, so of two clerks claiming at once one wins and the other
is told who was faster; nothing is written twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from tongban.cases import machine
from tongban.cases import services as cases
from tongban.cases.models import Case
from tongban.common.audit import audit_record
from tongban.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tongban.identity import access
from tongban.identity.models import Account, StaffRole

HANDLING_ROLES = (StaffRole.Role.WINDOW_CLERK, StaffRole.Role.REVIEWER, StaffRole.Role.APPROVER, StaffRole.Role.DEPT_ADMIN)
ADDRESS_MAX = 200


def _roles_in(account: Any, department_id: int | None, roles: tuple[str, ...]) -> bool:
    if access.is_operator(account):
        return True
    if department_id is None or not getattr(account, "pk", None) or not getattr(account, "is_active", False):
        return False
    if getattr(account, "kind", None) not in (Account.Kind.STAFF, Account.Kind.OPERATOR):
        return False
    return StaffRole.objects.filter(
        Q(department_id=department_id) | Q(department__isnull=True), account_id=account.pk, role__in=roles
    ).exists()


def may_handle(account: Any, department_id: int | None) -> bool:
    """Whether ``account`` holds a handling role in the department (operators: everywhere)."""
    return _roles_in(account, department_id, HANDLING_ROLES)


def may_manage(account: Any, department_id: int | None) -> bool:
    """Whether ``account`` administers the department's cases (reassigns, acts on any claimed case)."""
    return _roles_in(account, department_id, (StaffRole.Role.DEPT_ADMIN,))


def name_of(account: Account | None) -> str:
    if account is None:
        return ""
    return account.display_name or account.username


def _locked(actor: Any, case_id: str) -> Case:
    """The case row, locked, if it lies in the actor's reach; another department's case looks like none."""
    try:
        key = uuid.UUID(str(case_id))
    except ValueError:
        key = None
    scoped = access.scope(Case.objects.exclude(state=machine.State.DRAFT), actor, field="department")
    case = scoped.select_for_update().filter(public_id=key).first() if key else None
    if case is None:
        raise NotFound("没有找到这个办件，或它不属于您所在部门。", code="case_unknown")
    return case


def _assignee_name(case: Case) -> str:
    if not case.assignee_id:
        return ""
    return name_of(Account.objects.filter(pk=case.assignee_id).first())


def act_check(actor: Any, case: Case) -> None:
    """Raise unless ``actor`` may take a clerk's step on ``case`` now (see the module's rule)."""
    if not may_handle(actor, case.department_id):
        raise PermissionDenied("您在本部门没有办理权限（只读角色），不能办理这个办件。", code="case_read_only")
    if case.assignee_id and case.assignee_id != actor.pk and not may_manage(actor, case.department_id):
        raise PermissionDenied(
            f"该办件已被{_assignee_name(case)}认领，只有认领人或部门管理员可以办理。您可以查看，或请部门管理员改派。",
            code="case_claimed",
        )


def _set_assignee(case: Case, account: Account | None, *, actor: Any, action: str, reason: str = "") -> None:
    before = _assignee_name(case)
    case.assignee = account
    case.claimed_at = timezone.now() if account is not None else None
    # A plain UPDATE of the two columns: a claim is not a step and leaves the version alone.
    Case.objects.filter(pk=case.pk).update(assignee=account, claimed_at=case.claimed_at)
    audit_record(
        actor=actor,
        action=f"case.{action}",
        object_type="case",
        object_id=str(case.public_id),
        before={"assignee": before},
        after={"assignee": name_of(account)},
        reason=reason,
    )


def case_claim(*, actor: Any, case_id: str) -> Case:
    """认领: take an unclaimed case of one's department. Claiming one's own case again changes nothing."""
    with transaction.atomic():
        case = _locked(actor, case_id)
        if not may_handle(actor, case.department_id):
            raise PermissionDenied("您在本部门没有办理权限（只读角色），不能认领办件。", code="case_read_only")
        if case.assignee_id == actor.pk:
            return case
        if case.assignee_id:
            raise Conflict(f"该办件已被{_assignee_name(case)}认领。", code="case_claimed")
        if case.state in machine.TERMINAL:
            raise Conflict("该办件已经结束，无需认领。", code="case_closed")
        _set_assignee(case, actor, actor=actor, action="claim")
    return case


def case_release(*, actor: Any, case_id: str) -> Case:
    """释放: give a claimed case back to the department's queue (its assignee, or an administrator)."""
    with transaction.atomic():
        case = _locked(actor, case_id)
        if not case.assignee_id:
            return case
        if case.assignee_id != actor.pk and not may_manage(actor, case.department_id):
            raise PermissionDenied(f"该办件由{_assignee_name(case)}认领，只有认领人或部门管理员可以释放。", code="case_claimed")
        _set_assignee(case, None, actor=actor, action="release")
    return case


def assignable_staff(case: Case) -> list[Account]:
    """The active staff holding a handling role in the case's department: whom it may be reassigned to."""
    ids = StaffRole.objects.filter(department_id=case.department_id or 0, role__in=HANDLING_ROLES).values("account_id")
    return list(Account.objects.filter(pk__in=ids, is_active=True, kind=Account.Kind.STAFF).order_by("display_name", "username")[:200])


def case_reassign(*, actor: Any, case_id: str, to_account_id: Any, reason: str = "") -> Case:
    """改派: a department administrator (or an operator) gives the case to another handling clerk
    of the case's department; anyone else is refused, and so is a target outside the department."""
    with transaction.atomic():
        case = _locked(actor, case_id)
        if not may_manage(actor, case.department_id):
            raise PermissionDenied("只有部门管理员或平台运营人员可以改派办件。", code="reassign_forbidden")
        if case.state in machine.TERMINAL:
            raise Conflict("该办件已经结束，不能改派。", code="case_closed")
        try:
            key = uuid.UUID(str(to_account_id))
        except ValueError:
            key = None
        target = Account.objects.filter(public_id=key, is_active=True).first() if key else None
        if (
            target is None
            or target.kind != Account.Kind.STAFF
            or not StaffRole.objects.filter(account=target, department_id=case.department_id or 0, role__in=HANDLING_ROLES).exists()
        ):
            raise ValidationFailed("只能改派给本办件所属部门的办理人员。", code="reassign_target", details={"field": "to"})
        if case.assignee_id == target.pk:
            return case
        _set_assignee(case, target, actor=actor, action="reassign", reason=(reason or "").strip()[:200])
    return case


def case_handle(
    *,
    actor: Any,
    case_id: str,
    action: str,
    expected_version: int,
    opinion: str = "",
    special_step: int | None = None,
    on: dt.date | None = None,
) -> Case:
    """A clerk's step (``services.case_act``) under the claim rule."""
    with transaction.atomic():
        case = _locked(actor, case_id)
        if case.version != expected_version:
            raise Conflict("该办件刚刚已被他人处理，请刷新后查看最新状态。", code="case_changed")
        act_check(actor, case)
        done = cases.case_act(
            actor=actor,
            case_id=str(case.public_id),
            action=action,
            expected_version=expected_version,
            opinion=opinion,
            special_step=special_step,
            on=on,
        )
    return done


def correction_handle(*, actor: Any, case_id: str, expected_version: int, problems: list[dict[str, Any]]) -> Case:
    """The one-time correction notice (``services.correction_notice``) under the claim rule."""
    with transaction.atomic():
        case = _locked(actor, case_id)
        if case.version != expected_version:
            raise Conflict("该办件刚刚已被他人处理，请刷新后查看最新状态。", code="case_changed")
        act_check(actor, case)
        done = cases.correction_notice(actor=actor, case_id=str(case.public_id), expected_version=expected_version, problems=problems)
    return done


def _clean_delivery(method: Any, address: str) -> tuple[int, str]:
    try:
        chosen = int(method)
    except (TypeError, ValueError):
        chosen = 0
    if chosen not in Case.Delivery.values:
        raise ValidationFailed("请选择送达方式：电子送达、窗口领取或邮寄送达。", code="delivery_method", details={"field": "method"})
    address = " ".join((address or "").split())
    if chosen == Case.Delivery.COURIER:
        if not address:
            raise ValidationFailed("邮寄送达请填写收件地址（含收件人和电话）。", code="delivery_address", details={"field": "address"})
        if len(address) > ADDRESS_MAX:
            raise ValidationFailed(f"收件地址最多 {ADDRESS_MAX} 个字。", code="delivery_address", details={"field": "address"})
    else:
        address = ""
    return chosen, address


def delivery_set(*, actor: Any, case_id: str, method: Any, address: str = "") -> Case:
    """Record how the result will reach the applicant (before it is delivered)."""
    chosen, clean = _clean_delivery(method, address)
    with transaction.atomic():
        case = _locked(actor, case_id)
        act_check(actor, case)
        if case.state in machine.TERMINAL:
            raise Conflict("该办件已经结束，不能再修改送达方式。", code="case_closed")
        before = case.delivery_method
        Case.objects.filter(pk=case.pk).update(delivery_method=chosen, delivery_address=clean)
        case.delivery_method, case.delivery_address = chosen, clean
        audit_record(
            actor=actor,
            action="case.delivery_set",
            object_type="case",
            object_id=str(case.public_id),
            before={"method": before},
            after={"method": chosen, "address": bool(clean)},
        )
    return case


def case_deliver(*, actor: Any, case_id: str, expected_version: int, method: Any, address: str = "", note: str = "") -> Case:
    """送达: record the delivery method (courier: with the address) and take the deliver step, in
    one transaction."""
    chosen, clean = _clean_delivery(method, address)
    with transaction.atomic():
        case = _locked(actor, case_id)
        if case.version != expected_version:
            raise Conflict("该办件刚刚已被他人处理，请刷新后查看最新状态。", code="case_changed")
        act_check(actor, case)
        Case.objects.filter(pk=case.pk).update(delivery_method=chosen, delivery_address=clean)
        case.delivery_method, case.delivery_address = chosen, clean
        label = Case.Delivery(chosen).label
        opinion = f"送达方式：{label}" + (f"；{note.strip()[:200]}" if note and note.strip() else "")
        done = cases.case_act(
            actor=actor, case_id=str(case.public_id), action="deliver", expected_version=expected_version, opinion=opinion
        )
    return done
