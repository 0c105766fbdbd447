"""Staff accounts' security (QUALITY.md): password complexity and rotation, the second factor
(TOTP, RFC 6238) and roles.

- **Passwords**: staff passwords have at least 12 characters with an upper-case and a lower-case
  letter, a digit and a symbol (``StaffPasswordValidator``, on top of the platform's validators).
  A password older than ``STAFF_PASSWORD_MAX_AGE_DAYS`` (counted from ``password_changed_at``, or
  from the account's creation when it was never changed) must be changed before anything else.
- **TOTP**: the secret is sealed at rest (``common.crypto``); enrolment is confirmed by a first
  code; a code is accepted within one 30-second step either side of now and only for a step later
  than the last accepted one (``totp_last_step``), so a code is never accepted twice.
- **Roles** (``StaffRole``): operators grant and revoke any role; a department administrator
  grants and revokes the working roles (window clerk, reviewer, approver) of their own
  department's staff. Nobody changes their own roles. Who may see what is ``identity.access``.

Every change writes an audit row in the same transaction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
import time
from datetime import timedelta
from typing import Any

import pyotp
from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from tongban.common.audit import audit_record
from tongban.common.crypto import seal, unseal
from tongban.common.errors import PermissionDenied, ValidationFailed
from tongban.identity import access
from tongban.identity.models import Account, StaffRole
from tongban.org.models import Department

STAFF_KINDS = (Account.Kind.STAFF, Account.Kind.OPERATOR)
TOTP_CONTEXT = "account.totp_secret"
TOTP_ISSUER = "通办"
TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
TOTP_WINDOW = 1  # steps accepted either side of now (clock drift of the staff member's phone)

# Roles that belong to one department and that its administrator may hand out.
DEPARTMENT_ROLES = (StaffRole.Role.WINDOW_CLERK, StaffRole.Role.REVIEWER, StaffRole.Role.APPROVER, StaffRole.Role.DEPT_ADMIN)
DEPT_ADMIN_GRANTS = (StaffRole.Role.WINDOW_CLERK, StaffRole.Role.REVIEWER, StaffRole.Role.APPROVER)
ROLE_LABELS = dict(StaffRole.Role.choices)


def is_staff_account(account: Any) -> bool:
    """Staff and operators, and any account that may enter the console (``is_staff``, for example
    one made by ``createsuperuser``): the staff rules apply to all of them."""
    return getattr(account, "kind", None) in STAFF_KINDS or bool(getattr(account, "is_staff", False))


# --- passwords ----------------------------------------------------------------------------------


class StaffPasswordValidator:
    """Complexity for staff passwords (a Django password validator): at least ``min_length``
    characters with an upper-case letter, a lower-case letter, a digit and a symbol."""

    def __init__(self, min_length: int = 12) -> None:
        self.min_length = min_length

    def validate(self, password: str, user: Any = None) -> None:
        missing = []
        if not any(c in string.ascii_uppercase for c in password):
            missing.append("大写字母")
        if not any(c in string.ascii_lowercase for c in password):
            missing.append("小写字母")
        if not any(c in string.digits for c in password):
            missing.append("数字")
        if not any(not c.isalnum() and not c.isspace() for c in password):
            missing.append("符号（如 - ! @ #）")
        errors = []
        if len(password) < self.min_length:
            errors.append(ValidationError(f"工作人员密码至少需要 {self.min_length} 个字符。", code="password_too_short"))
        if missing:
            errors.append(ValidationError(f"工作人员密码还缺少：{'、'.join(missing)}。", code="password_too_simple"))
        if errors:
            raise ValidationError(errors)

    def get_help_text(self) -> str:
        return f"至少 {self.min_length} 个字符，须同时包含大写字母、小写字母、数字和符号。"


def staff_password_validators() -> list[Any]:
    return [*password_validation.get_default_password_validators(), StaffPasswordValidator()]


def staff_password_problems(password: str, account: Account | None = None) -> list[str]:
    """What is wrong with a new staff password, in Chinese; empty when it may be used."""
    try:
        password_validation.validate_password(password, user=account, password_validators=staff_password_validators())
    except ValidationError as exc:
        return [str(m) for m in exc.messages]
    return []


def password_expires_at(account: Account) -> Any:
    changed = account.password_changed_at or account.date_joined
    return changed + timedelta(days=settings.STAFF_PASSWORD_MAX_AGE_DAYS)


def password_expired(account: Account, *, now: Any = None) -> bool:
    if not is_staff_account(account):
        return False
    return bool((now or timezone.now()) >= password_expires_at(account))


def password_change(*, account: Account, new_password: str, actor: Any = None) -> Account:
    """Set a staff member's new password (complexity checked, never the current one) and restart
    the rotation clock."""
    problems = staff_password_problems(new_password, account)
    if problems:
        raise ValidationFailed("新密码不符合要求：" + "".join(problems), code="weak_password", details=problems)
    if account.check_password(new_password):
        raise ValidationFailed("新密码不能与当前密码相同，请换一个。", code="password_reused")
    with transaction.atomic():
        account.set_password(new_password)
        account.password_changed_at = timezone.now()
        account.save(update_fields=["password", "password_changed_at"])
        audit_record(
            actor=actor or account,
            action="staff.password_change",
            object_type="account",
            object_id=str(account.public_id),
            after={"password_changed_at": account.password_changed_at.isoformat()},
        )
    return account


# --- TOTP -----------------------------------------------------------------------------------------


def totp_enrolled(account: Account) -> bool:
    return bool(account.totp_confirmed_at and account.totp_secret_sealed)


def totp_new_secret() -> str:
    """160 random bits, base32 (what authenticator apps expect)."""
    return pyotp.random_base32(32)


def totp_seal(secret: str) -> str:
    return seal(secret, context=TOTP_CONTEXT)


def totp_unseal(sealed: str) -> str:
    return unseal(sealed, context=TOTP_CONTEXT)


def totp_provisioning_uri(account: Account, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account.username, issuer_name=TOTP_ISSUER)


def _step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // TOTP_STEP_SECONDS)


def _matching_step(secret: str, code: str, *, after: int, now: float | None = None) -> int | None:
    code = "".join(code.split())
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS)
    current = _step(now)
    for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
        if step > after and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def totp_code(secret: str, *, now: float | None = None) -> str:
    """The current code of a secret (the demo's hint and the tests' authenticator)."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS).generate_otp(_step(now))


def totp_confirm(*, account: Account, secret: str, code: str, actor: Any = None, now: float | None = None) -> bool:
    """Enrol (or re-enrol, replacing the old secret) with a candidate secret, proved by a first code
    from the staff member's authenticator. False when the code does not match."""
    step = _matching_step(secret, code, after=0, now=now)
    if step is None:
        return False
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        re_enrol = totp_enrolled(locked)
        locked.totp_secret_sealed = totp_seal(secret)
        locked.totp_confirmed_at = timezone.now()
        locked.totp_last_step = step  # the enrolment code is spent too
        locked.save(update_fields=["totp_secret_sealed", "totp_confirmed_at", "totp_last_step"])
        audit_record(
            actor=actor or account,
            action="staff.totp_enrol",
            object_type="account",
            object_id=str(account.public_id),
            after={"re_enrol": re_enrol},
        )
    account.totp_secret_sealed, account.totp_confirmed_at, account.totp_last_step = (
        locked.totp_secret_sealed,
        locked.totp_confirmed_at,
        locked.totp_last_step,
    )
    return True


def totp_verify(*, account: Account, code: str, now: float | None = None) -> bool:
    """Check a code of an enrolled staff member: within one step of now, and later than the last
    code accepted (a code seen once is refused: replay). A failure is audited."""
    with transaction.atomic():
        locked = Account.objects.select_for_update().get(pk=account.pk)
        step = None
        if totp_enrolled(locked):
            step = _matching_step(totp_unseal(locked.totp_secret_sealed), code, after=locked.totp_last_step, now=now)
        if step is None:
            audit_record(actor=account, action="staff.totp_failed", object_type="account", object_id=str(account.public_id))
            return False
        locked.totp_last_step = step
        locked.save(update_fields=["totp_last_step"])
    account.totp_last_step = step
    return True


def totp_reset(*, actor: Any, account: Account, reason: str) -> None:
    """Remove a staff member's second factor (a lost phone). They enrol again at their next
    sign-in; their live sessions end now."""
    from tongban.identity.sessions import sessions_end_all

    if not access.is_operator(actor):
        raise PermissionDenied("只有平台运营人员可以重置动态验证码。", code="not_operator")
    if not reason.strip():
        raise ValidationFailed("请填写重置原因。", code="reason_required")
    with transaction.atomic():
        Account.objects.filter(pk=account.pk).update(totp_secret_sealed="", totp_confirmed_at=None, totp_last_step=0)
        account.totp_secret_sealed, account.totp_confirmed_at, account.totp_last_step = "", None, 0
        audit_record(actor=actor, action="staff.totp_reset", object_type="account", object_id=str(account.public_id), reason=reason)
        sessions_end_all(account=account, reason="动态验证码已被重置", actor=actor)


def demo_totp_secret(username: str) -> str:
    """A fixed, public secret for a demo or test account (derived from its username). Never for
    real accounts: anyone can compute it."""
    digest = hashlib.sha256(f"tongban-demo-totp:{username}".encode()).digest()[:20]
    return base64.b32encode(digest).decode()


def totp_enrol_known_secret(*, actor: Any, account: Account, secret: str) -> bool:
    """Enrol a known secret without a first code: for the demo province and tests only (the secret
    is printed for people to type into an authenticator). Idempotent: returns False when the
    account already uses that secret."""
    if totp_enrolled(account) and totp_unseal(account.totp_secret_sealed) == secret:
        return False
    with transaction.atomic():
        account.totp_secret_sealed = totp_seal(secret)
        account.totp_confirmed_at = timezone.now()
        account.totp_last_step = 0
        account.save(update_fields=["totp_secret_sealed", "totp_confirmed_at", "totp_last_step"])
        audit_record(
            actor=actor, action="staff.totp_enrol", object_type="account", object_id=str(account.public_id), after={"known_secret": True}
        )
    return True


def console_requirement(account: Account) -> str | None:
    """What a signed-in staff member must do before using the console: ``"totp"`` (enrol the second
    factor), ``"password"`` (choose a new password) or nothing."""
    if not is_staff_account(account):
        return None
    if not totp_enrolled(account):
        return "totp"
    if password_expired(account):
        return "password"
    return None


# --- roles ----------------------------------------------------------------------------------------


def may_manage_role(actor: Any, role: str, department: Department | None) -> bool:
    """Whether ``actor`` may grant or revoke ``role`` in ``department``."""
    if access.is_operator(actor):
        return True
    if role not in DEPT_ADMIN_GRANTS or department is None:
        return False
    return access.staff_may(actor, StaffRole.Role.DEPT_ADMIN, department)


def _check_grantee(*, account: Account, role: str, department: Department | None) -> None:
    if role not in ROLE_LABELS:
        raise ValidationFailed("角色无效。", code="invalid_role")
    if not is_staff_account(account) or not account.is_active:
        raise ValidationFailed("只能给在用的工作人员账号授予角色。", code="not_staff")
    if role in DEPARTMENT_ROLES:
        if department is None:
            raise ValidationFailed(f"“{ROLE_LABELS[role]}”必须属于一个部门，请选择部门。", code="department_required")
        if account.kind != Account.Kind.STAFF:
            raise ValidationFailed("部门角色只能授予部门工作人员账号。", code="not_department_staff")
    if role == StaffRole.Role.OPERATOR:
        if department is not None:
            raise ValidationFailed("平台运营人员角色不属于某个部门。", code="department_not_allowed")
        if account.kind != Account.Kind.OPERATOR:
            raise ValidationFailed("平台运营人员角色只能授予平台运营人员账号。", code="not_operator_account")


def _check_role(*, actor: Any, account: Account, role: str, department: Department | None) -> None:
    if getattr(actor, "pk", None) == account.pk:
        raise PermissionDenied("不能更改自己的角色，请联系其他管理员。", code="own_roles")
    if not may_manage_role(actor, role, department):
        raise PermissionDenied("您无权在该部门授予或收回这一角色。", code="role_not_allowed")
    if not access.is_operator(actor) and account.department_id != getattr(department, "pk", None):
        raise PermissionDenied("部门管理员只能管理本部门工作人员的角色。", code="other_department")


def role_grant(*, actor: Any, account: Account, role: str, department: Department | None = None) -> tuple[StaffRole, bool]:
    """Grant a role (idempotent: granting a role held already changes nothing). Returns the role
    and whether it was new."""
    _check_role(actor=actor, account=account, role=role, department=department)
    _check_grantee(account=account, role=role, department=department)
    with transaction.atomic():
        existing = StaffRole.objects.filter(account=account, role=role, department=department).first()
        if existing is not None:
            return existing, False
        granted = StaffRole.objects.create(
            account=account, role=role, department=department, granted_by=actor if getattr(actor, "pk", None) else None
        )
        audit_record(
            actor=actor,
            action="staff_role.grant",
            object_type="account",
            object_id=str(account.public_id),
            after={"role": role, "department": department.credit_code if department else None},
        )
    return granted, True


def role_revoke(*, actor: Any, staff_role: StaffRole, reason: str = "") -> None:
    _check_role(actor=actor, account=staff_role.account, role=staff_role.role, department=staff_role.department)
    with transaction.atomic():
        before = {"role": staff_role.role, "department": staff_role.department.credit_code if staff_role.department else None}
        staff_role.delete()
        audit_record(
            actor=actor,
            action="staff_role.revoke",
            object_type="account",
            object_id=str(staff_role.account.public_id),
            before=before,
            reason=reason,
        )


def persona_role(*, account: Account) -> StaffRole | None:
    """The role a staff persona made by ``services.staff_account_upsert`` naturally holds: operators
    the operator role, department staff the window-clerk role of their department. Idempotent,
    granted by "system" (the demo loader and the test personas)."""
    if account.kind == Account.Kind.OPERATOR:
        role, department = StaffRole.Role.OPERATOR, None
    elif account.kind == Account.Kind.STAFF and account.department_id:
        role, department = StaffRole.Role.WINDOW_CLERK, account.department
    else:
        return None
    return system_role_grant(account=account, role=role, department=department)


def system_role_grant(*, account: Account, role: str, department: Department | None) -> StaffRole:
    """A role granted by the platform itself (the demo loader, set-up scripts): the same rules on
    the grantee, no grantor. Idempotent."""
    _check_grantee(account=account, role=role, department=department)
    with transaction.atomic():
        existing = StaffRole.objects.filter(account=account, role=role, department=department).first()
        if existing is not None:
            return existing
        granted = StaffRole.objects.create(account=account, role=role, department=department)
        audit_record(
            actor=None,
            action="staff_role.grant",
            object_type="account",
            object_id=str(account.public_id),
            after={"role": role, "department": department.credit_code if department else None},
        )
    return granted
