"""Natural persons: registration with a one-time code, sign-in by code, passwords, real-name levels
(STANDARDS.md: L1 verified mobile, L2 name and ID number checked against the population base, L3
face, L4 checked in person in a hall) and the account notices that go with each change.

Every service takes keyword-only arguments, writes in one transaction with its audit row and
queues its notice in the same transaction. A refusal that must be remembered (a wrong one-time
code, a failed real-name check) is committed before the error is raised.

Identity sits below the message centre (ADR 0001), so it does not import it: notices go through
``identity.ports``, and so does the one-time code check. Remote registries are reached outside
any transaction (identity.population).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone, translation

from tongban.common.audit import audit_record
from tongban.common.codes import is_valid_ric
from tongban.common.crypto import blind_index
from tongban.common.errors import Conflict, DomainError, PermissionDenied, ValidationFailed
from tongban.common.masking import mask_id_number, mask_mobile, mask_name
from tongban.common.models import AuditEvent
from tongban.identity import ports, sessions
from tongban.identity.models import Account, LoginSession, RealNameEvent, RealNameLevel
from tongban.identity.population import Match, face_verifier, population_base
from tongban.org.models import Hall

MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
NAME = re.compile(r"^[\u3400-\u9fff\uf900-\ufaff·•A-Za-z ]{2,30}$")
DISPLAY_NAME_MAX = 30
NOTE_MAX = 200
# Failed real-name checks per person per day: the population base must not become an oracle for
# "does this name belong to this number".
REALNAME_FAILURES_PER_DAY = 5
# How many earlier sign-ins tell whether a device is new.
KNOWN_DEVICES_WINDOW = 10
LOCAL = ZoneInfo("Asia/Shanghai")


class TooManyAttempts(DomainError):
    code = "too_many_attempts"
    status = 429


# --- small helpers ---------------------------------------------------------------------------------


def normalise_mobile(raw: str) -> str:
    """What people type (spaces, dashes, +86) reduced to the 11 digits."""
    digits = re.sub(r"[\s-]", "", raw or "")
    return digits.removeprefix("+86")


def _mobile(raw: str) -> str:
    mobile = normalise_mobile(raw)
    if not MOBILE.match(mobile):
        raise ValidationFailed("请输入正确的 11 位手机号码，例如 13812345678。", code="invalid_mobile", details={"field": "mobile"})
    return mobile


def _when(moment: dt.datetime) -> str:
    local = timezone.localtime(moment, LOCAL)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def _notice(account: Account, change: str, reason: str) -> None:
    """An account-security notice (inbox, and SMS: people cannot switch these off), through
    identity's port to the message centre. Call inside the transaction of the change."""
    ports.account_notice(account=account, change=change, reason=reason)


def _otp_check(*, mobile: str, purpose: str, code: str) -> None:
    ports.otp_check(mobile=mobile, purpose=purpose, code=(code or "").strip())


PASSWORD_PROBLEMS = {
    "password_too_short": "密码太短，至少要 {min_length} 个字符。",
    "password_too_common": "这个密码太常见，很容易被猜到。",
    "password_entirely_numeric": "密码不能全是数字。",
    "password_too_similar": "密码和您的个人信息太像。",
}


def _password_problems(password: str, account: Account | None = None) -> list[str]:
    """What Django's validators (AUTH_PASSWORD_VALIDATORS) find, in our own plain Chinese."""
    try:
        validate_password(password, user=account)
    except DjangoValidationError as exc:
        problems = []
        for error in exc.error_list:
            template = PASSWORD_PROBLEMS.get(error.code or "")
            if template is not None:
                problems.append(template.format(**(error.params or {})))
            else:
                with translation.override("zh-hans"):
                    problems.append(" ".join(str(m) for m in error.messages))
        return problems
    return []


def _check_password_policy(password: str, account: Account | None = None) -> None:
    problems = _password_problems(password, account)
    if problems:
        raise ValidationFailed(
            "密码不够安全：" + "".join(problems) + " 建议用一句好记的话，例如“我家小猫三岁半了2026”。",
            code="weak_password",
            details={"field": "password", "problems": problems},
        )


def citizens_by_mobile(mobile: str, *, limit: int = 2) -> list[Account]:
    """Active citizen accounts registered with this mobile number (normally at most one)."""
    mobile = normalise_mobile(mobile)
    if not MOBILE.match(mobile):
        return []
    found = Account.objects.filter(mobile_index=blind_index(mobile, kind="mobile"), kind=Account.Kind.CITIZEN, is_active=True)
    return list(found.order_by("pk")[:limit])


def citizen_get(public_id: str) -> Account | None:
    """An active citizen by the opaque public id pages carry in forms; None for anything else."""
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return Account.objects.filter(public_id=key, kind=Account.Kind.CITIZEN, is_active=True).first()


def _new_username() -> str:
    """An opaque login name: people sign in with their mobile number; personal data never goes here."""
    while True:
        candidate = f"p{secrets.token_hex(6)}"
        if not Account.objects.filter(username=candidate).exists():
            return candidate


def _level_event(
    account: Account, *, level_to: int, method: str, reference: str = "", recorded_by: Account | None = None, hall: Hall | None = None
) -> RealNameEvent:
    event = RealNameEvent.objects.create(
        account=account,
        level_from=account.real_name_level,
        level_to=level_to,
        method=method,
        provider_reference=reference[:100],
        recorded_by=recorded_by,
        hall=hall,
    )
    account.real_name_level = level_to
    return event


# --- registration and sign-in ----------------------------------------------------------------------


def person_register(*, mobile: str, code: str, password: str, display_name: str, client_ip: str) -> Account:
    """A new citizen at L1: the one-time code (purpose "register") proves the number. Refused for
    a number already registered, a weak password or a bad code; a refusal other than the code's
    own leaves the code usable."""
    mobile = _mobile(mobile)
    display_name = (display_name or "").strip()
    if not display_name:
        raise ValidationFailed("请填写您的姓名或称呼。", code="name_required", details={"field": "display_name"})
    if len(display_name) > DISPLAY_NAME_MAX or any(ord(ch) < 32 for ch in display_name):
        raise ValidationFailed(f"姓名或称呼最多 {DISPLAY_NAME_MAX} 个字。", code="invalid_name", details={"field": "display_name"})
    _check_password_policy(password, Account(display_name=display_name))
    refused: DomainError | None = None
    with transaction.atomic():
        try:
            _otp_check(mobile=mobile, purpose="register", code=code)
        except DomainError as exc:
            refused = exc  # the counted wrong try commits with this block
        else:
            if Account.objects.filter(mobile_index=blind_index(mobile, kind="mobile")).exists():
                raise Conflict(
                    "这个手机号码已经注册过通办账号。请直接登录；忘记密码可以用短信验证码登录或重设密码。",
                    code="mobile_registered",
                    details={"field": "mobile"},
                )
            now = timezone.now()
            account = Account(username=_new_username(), kind=Account.Kind.CITIZEN, display_name=display_name)
            account.mobile = mobile
            account.mobile_verified_at = now
            account.password_changed_at = now
            account.set_password(password)
            account.save()
            _level_event(account, level_to=RealNameLevel.L1, method=RealNameEvent.Method.MOBILE)
            account.save(update_fields=["real_name_level"])
            audit_record(
                actor=account,
                action="identity.register",
                object_type="account",
                object_id=str(account.public_id),
                after={"mobile": mask_mobile(mobile), "display_name": mask_name(display_name), "level": 1, "client_ip": client_ip[:64]},
            )
    if refused is not None:
        raise refused
    return account


def person_login_otp(*, mobile: str, code: str) -> Account:
    """The citizen whose number received this one-time code (purpose "login"). Whether a number is
    registered is told only to someone who holds its code. The code also (re)verifies the number:
    an account below L1 reaches L1."""
    mobile = _mobile(mobile)
    refused: DomainError | None = None
    with transaction.atomic():
        try:
            _otp_check(mobile=mobile, purpose="login", code=code)
        except DomainError as exc:
            refused = exc
        else:
            found = citizens_by_mobile(mobile)
            if not found:
                raise ValidationFailed(
                    "这个手机号码还没有注册通办账号。请先注册，注册后就可以用验证码登录。",
                    code="not_registered",
                    details={"field": "mobile"},
                )
            if len(found) > 1:
                raise Conflict("这个手机号码登记在多个账号上，请改用用户名和密码登录，或拨打 12345 咨询。", code="mobile_ambiguous")
            account = Account.objects.select_for_update().get(pk=found[0].pk)
            account.mobile_verified_at = timezone.now()
            fields = ["mobile_verified_at"]
            if account.real_name_level < RealNameLevel.L1:
                _level_event(account, level_to=RealNameLevel.L1, method=RealNameEvent.Method.MOBILE)
                fields.append("real_name_level")
            account.save(update_fields=fields)
    if refused is not None:
        raise refused
    return account


def sign_in_failed(*, method: str, identifier: str, account: Account | None, client_ip: str, reason: str) -> None:
    """Record a refused sign-in: what was tried, masked (a password typed into the wrong field must
    not land in the audit trail), and why."""
    mobile = normalise_mobile(identifier)
    shown = mask_mobile(mobile) if MOBILE.match(mobile) else ("" if account is None else account.username)
    audit_record(
        actor=None,
        action="identity.sign_in_failed",
        object_type="account",
        object_id=str(account.public_id) if account is not None else "",
        after={"method": method, "who": shown, "client_ip": client_ip[:64]},
        reason=reason,
    )


def sign_in_noticed(*, login: LoginSession) -> bool:
    """After a sign-in: a device (User-Agent) none of the person's last sign-ins used gets an
    account notice. The very first sign-in has nothing to compare with and stays quiet."""
    earlier = list(
        LoginSession.objects.filter(account=login.account)
        .exclude(pk=login.pk)
        .order_by("-created_at", "-pk")
        .values_list("user_agent", flat=True)[:KNOWN_DEVICES_WINDOW]
    )
    if not earlier or login.user_agent in earlier:
        return False
    with transaction.atomic():
        _notice(login.account, "在新设备上登录", reason="新设备登录提醒")
        audit_record(
            actor=login.account,
            action="identity.new_device",
            object_type="account",
            object_id=str(login.account.public_id),
            after={"session": str(login.public_id), "user_agent": login.user_agent[:120]},
        )
    return True


def session_rekeyed(*, login: LoginSession, session_key: str) -> None:
    """The Django session behind a sign-in got a new id (after a password change): follow it, so
    that ending the sign-in still ends that session."""
    LoginSession.objects.filter(pk=login.pk, ended_at=None).update(session_key=session_key[:40])


# --- passwords -------------------------------------------------------------------------------------


def password_change(*, account: Account, old: str, new: str, keep: LoginSession | None = None) -> Account:
    """A signed-in person changes their password. Their other sign-ins end (the old password may be
    what someone else used); ``keep`` is the sign-in they are using now."""
    if not old or not account.check_password(old):
        raise ValidationFailed(
            "当前密码不正确，请重新输入。忘记了可以退出后用短信验证码重设密码。", code="wrong_password", details={"field": "old"}
        )
    if old == new:
        raise ValidationFailed("新密码不能和当前密码相同。", code="same_password", details={"field": "password"})
    _check_password_policy(new, account)
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        account.set_password(new)
        account.password_changed_at = timezone.now()
        account.save(update_fields=["password", "password_changed_at"])
        others = LoginSession.objects.filter(account=account, ended_at=None)
        if keep is not None:
            others = others.exclude(pk=keep.pk)
        ended = 0
        for login in others:
            sessions.session_end(login=login, reason="修改密码后退出其他设备")
            ended += 1
        audit_record(
            actor=account,
            action="identity.password_changed",
            object_type="account",
            object_id=str(account.public_id),
            after={"other_sessions_ended": ended},
        )
        _notice(account, "修改了登录密码", reason="修改登录密码提醒")
    return account


def password_reset(*, mobile: str, code: str, new: str) -> Account:
    """Forgotten password: the one-time code (purpose "reset") proves the number. Every sign-in of
    the person ends and a lockout of their name is lifted."""
    mobile = _mobile(mobile)
    _check_password_policy(new)
    refused: DomainError | None = None
    with transaction.atomic():
        try:
            _otp_check(mobile=mobile, purpose="reset", code=code)
        except DomainError as exc:
            refused = exc
        else:
            found = citizens_by_mobile(mobile)
            if len(found) != 1:
                raise ValidationFailed(
                    "这个手机号码没有对应唯一的通办账号，无法重设密码。请先注册，或拨打 12345 咨询。",
                    code="not_registered",
                    details={"field": "mobile"},
                )
            account = Account.objects.select_for_update().get(pk=found[0].pk)
            _check_password_policy(new, account)
            account.set_password(new)
            account.password_changed_at = timezone.now()
            account.mobile_verified_at = account.password_changed_at
            account.save(update_fields=["password", "password_changed_at", "mobile_verified_at"])
            ended = sessions.sessions_end_all(account=account, reason="重设密码后退出所有设备")
            audit_record(
                actor=account,
                action="identity.password_reset",
                object_type="account",
                object_id=str(account.public_id),
                after={"applications_told": ended},
            )
            _notice(account, "重设了登录密码", reason="重设登录密码提醒")
    if refused is not None:
        raise refused
    from axes.utils import reset as axes_reset  # the owner of the number may sign in again at once

    axes_reset(username=account.username)
    return account


# --- real-name levels ------------------------------------------------------------------------------

LEVEL_REACHED = "您的实名等级已经是 L{level}，不需要再做这一步。"


def _failures_today(account: Account) -> int:
    since = timezone.now() - dt.timedelta(days=1)
    return AuditEvent.objects.filter(
        action="identity.realname_failed", object_type="account", object_id=str(account.public_id), at__gte=since
    ).count()


def _guard_attempts(account: Account) -> None:
    if _failures_today(account) >= REALNAME_FAILURES_PER_DAY:
        raise TooManyAttempts(
            "今天核验未通过的次数较多，为保护您的信息已暂停核验，请明天再试；也可以带上居民身份证到政务服务大厅现场办理。",
            code="realname_attempts",
        )


def _record_failure(account: Account, *, step: str, reason: str, reference: str = "", id_number: str = "") -> None:
    with transaction.atomic():
        audit_record(
            actor=account,
            action="identity.realname_failed",
            object_type="account",
            object_id=str(account.public_id),
            after={"step": step, "id_number": mask_id_number(id_number) if id_number else "", "reference": reference},
            reason=reason,
        )


MISMATCH_MESSAGES = {
    "mismatch": "姓名与身份证号码不一致，请对照居民身份证核对后重填（生僻字、“·”也要一致）。",
    "not_found": "没有查到这个身份证号码，请对照居民身份证核对后重填。",
    "cancelled": "这个身份信息无法在网上核验，请带上居民身份证到就近的政务服务大厅办理。",
}


def realname_l2(*, account: Account, name: str, id_number: str) -> Account:
    """L2: the name and ID number (GB 11643 check character) match the population base. The name
    checked becomes the account's name."""
    name = re.sub(r"\s+", "", name or "")
    id_number = re.sub(r"\s+", "", id_number or "").upper()
    if account.real_name_level >= RealNameLevel.L2:
        raise ValidationFailed(LEVEL_REACHED.format(level=account.real_name_level), code="level_reached")
    problems: dict[str, str] = {}
    if not NAME.match(name):
        problems["name"] = "请填写居民身份证上的姓名（2 到 30 个字）。"
    if not is_valid_ric(id_number):
        problems["id_number"] = "身份证号码不正确：应为 18 位，最后一位可能是数字或 X，请对照证件核对。"
    if problems:
        raise ValidationFailed("；".join(problems.values()), code="invalid_identity", details={"fields": problems})
    _guard_attempts(account)
    index = blind_index(id_number, kind="id_number")
    if Account.objects.filter(id_number_index=index).exclude(pk=account.pk).exists():
        _record_failure(account, step="L2", reason="身份证号码已登记在其他账号", id_number=id_number)
        raise Conflict(
            "这个身份证号码已经实名登记在另一个通办账号上。如果那不是您本人的账号，请带上居民身份证到政务服务大厅处理。",
            code="id_number_taken",
            details={"field": "id_number"},
        )
    match: Match = population_base().check(name, id_number)  # outside the transaction: a remote call
    if not match.ok:
        _record_failure(account, step="L2", reason=f"人口库核验未通过：{match.reason}", reference=match.reference, id_number=id_number)
        raise ValidationFailed(MISMATCH_MESSAGES.get(match.reason, MISMATCH_MESSAGES["mismatch"]), code=f"realname_{match.reason}")
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        if account.real_name_level >= RealNameLevel.L2:
            raise ValidationFailed(LEVEL_REACHED.format(level=account.real_name_level), code="level_reached")
        if Account.objects.filter(id_number_index=index).exclude(pk=account.pk).exists():
            raise Conflict("这个身份证号码已经实名登记在另一个通办账号上。", code="id_number_taken", details={"field": "id_number"})
        before = {"level": account.real_name_level, "display_name": mask_name(account.display_name)}
        account.display_name = name
        account.id_number = id_number
        _level_event(account, level_to=RealNameLevel.L2, method=RealNameEvent.Method.POPULATION, reference=match.reference)
        account.save(update_fields=["display_name", "id_number_sealed", "id_number_index", "real_name_level"])
        audit_record(
            actor=account,
            action="identity.realname_level",
            object_type="account",
            object_id=str(account.public_id),
            before=before,
            after={"level": 2, "method": "population", "display_name": mask_name(name), "id_number": mask_id_number(id_number)},
        )
        _notice(account, "完成实名认证，等级升为L2", reason="实名等级变更提醒")
    return account


def realname_l3(*, account: Account, liveness_token: str) -> Account:
    """L3: a live face matches the ID photo of the number checked at L2."""
    if account.real_name_level >= RealNameLevel.L3:
        raise ValidationFailed(LEVEL_REACHED.format(level=account.real_name_level), code="level_reached")
    if account.real_name_level < RealNameLevel.L2 or not account.id_number_sealed:
        raise ValidationFailed("请先完成 L2 实名认证（核验姓名和身份证号码），再做人脸核验。", code="level_required")
    _guard_attempts(account)
    match = face_verifier().verify(account.id_number, liveness_token)
    if not match.ok:
        _record_failure(account, step="L3", reason=f"人脸核验未通过：{match.reason}", reference=match.reference)
        if match.reason == "invalid_token":
            raise ValidationFailed("这次人脸核验已失效，请重新开始。", code="realname_invalid_token")
        raise ValidationFailed("人脸核验未通过：请确认是本人操作，在光线充足的地方正对手机重试。", code="realname_face_mismatch")
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        if account.real_name_level >= RealNameLevel.L3:
            raise ValidationFailed(LEVEL_REACHED.format(level=account.real_name_level), code="level_reached")
        before = {"level": account.real_name_level}
        _level_event(account, level_to=RealNameLevel.L3, method=RealNameEvent.Method.FACE, reference=match.reference)
        account.save(update_fields=["real_name_level"])
        audit_record(
            actor=account,
            action="identity.realname_level",
            object_type="account",
            object_id=str(account.public_id),
            before=before,
            after={"level": 3, "method": "face"},
        )
        _notice(account, "完成人脸核验，等级升为L3", reason="实名等级变更提醒")
    return account


def halls_for(clerk: Account) -> list[Hall]:
    """Where a staff member may record an in-person check: their department's hall; operators any."""
    if clerk.kind == Account.Kind.OPERATOR:
        return list(Hall.objects.select_related("division").order_by("division__code"))
    department = clerk.department
    if department is None:
        return []
    return list(Hall.objects.select_related("division").filter(division_id=department.division_id))


def realname_l4(*, clerk: Account, account: Account, hall: Hall, note: str) -> Account:
    """L4, recorded by a window clerk who checked the person and their ID card at the counter. The
    person must already be at L2 (their ID number is on file for the clerk to compare)."""
    if not (clerk.is_active and clerk.is_staff and clerk.kind in (Account.Kind.STAFF, Account.Kind.OPERATOR)):
        raise PermissionDenied("只有政务服务大厅的工作人员可以记录现场核验。", code="clerk_required")
    if hall.pk not in {h.pk for h in halls_for(clerk)}:
        raise PermissionDenied("只能记录在本单位所在大厅完成的现场核验。", code="hall_forbidden")
    note = (note or "").strip()
    if not note:
        raise ValidationFailed("请填写核验说明，例如“已核对居民身份证原件，人证一致”。", code="note_required", details={"field": "note"})
    if len(note) > NOTE_MAX:
        raise ValidationFailed(f"核验说明最多 {NOTE_MAX} 个字。", code="note_too_long", details={"field": "note"})
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        if account.kind != Account.Kind.CITIZEN:
            raise ValidationFailed("只能为群众（自然人）账号记录现场核验。", code="not_a_citizen")
        if account.real_name_level >= RealNameLevel.L4:
            raise ValidationFailed("此人已是 L4 现场核验等级，无需再次记录。", code="level_reached")
        if account.real_name_level < RealNameLevel.L2 or not account.id_number_sealed:
            raise ValidationFailed(
                "此人还没有完成 L2 实名认证，账号上没有可核对的身份证号码。请先指导其在手机上完成实名认证。", code="level_required"
            )
        before = {"level": account.real_name_level}
        _level_event(account, level_to=RealNameLevel.L4, method=RealNameEvent.Method.HALL, recorded_by=clerk, hall=hall)
        account.save(update_fields=["real_name_level"])
        audit_record(
            actor=clerk,
            action="identity.realname_level",
            object_type="account",
            object_id=str(account.public_id),
            before=before,
            after={"level": 4, "method": "hall", "hall": hall.division.code},
            reason=note,
        )
        _notice(account, "在大厅完成现场核验，等级升为L4", reason="实名等级变更提醒")
    return account


def realname_events(account: Account) -> list[RealNameEvent]:
    return list(RealNameEvent.objects.filter(account=account).select_related("hall").order_by("-created_at", "-pk"))


def describe(account: Account) -> dict[str, Any]:
    """What a page may show of a person: masked by default."""
    return {
        "name": mask_name(account.display_name),
        "mobile": mask_mobile(account.mobile) if account.mobile_sealed else "",
        "id_number": mask_id_number(account.id_number) if account.id_number_sealed else "",
        "level": account.real_name_level,
        "level_label": RealNameLevel(account.real_name_level).label if account.real_name_level in RealNameLevel.values else "",
    }
