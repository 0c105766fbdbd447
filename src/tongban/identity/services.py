"""Account writes used by the console and the demo loader (full identity services come later)."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from django.db import transaction
from django.utils import timezone

from tongban.common.audit import audit_record
from tongban.common.codes import is_valid_ric
from tongban.common.errors import ValidationFailed
from tongban.common.masking import mask_id_number, mask_mobile
from tongban.identity.models import Account, ApiClient, ApiKey
from tongban.org.models import Department


def staff_account_upsert(
    *, actor: Any, username: str, password: str, display_name: str, kind: str, department: Department | None = None
) -> Account:
    if kind not in (Account.Kind.STAFF, Account.Kind.OPERATOR):
        raise ValidationFailed("工作人员账号类型无效。", code="invalid_kind")
    if kind == Account.Kind.STAFF and department is None:
        raise ValidationFailed("部门工作人员必须属于一个部门。", code="department_required")
    with transaction.atomic():
        account, created = Account.objects.get_or_create(username=username)
        same = (account.display_name, account.kind, account.department_id, account.is_staff) == (
            display_name,
            kind,
            department.pk if department else None,
            True,
        )
        if not created and same and account.check_password(password):
            return account
        account.display_name = display_name
        account.kind = kind
        account.department = department
        account.is_staff = True  # may sign in to the console
        account.is_superuser = False
        account.set_password(password)
        account.password_changed_at = timezone.now()
        account.save()
        audit_record(
            actor=actor,
            action="account.create" if created else "account.update",
            object_type="account",
            object_id=str(account.public_id),
            after={"username": username, "kind": kind, "department": department.credit_code if department else None},
        )
    return account


MOBILE_PATTERN = "^1[3-9][0-9]{9}$"


def citizen_account_upsert(
    *, actor: Any, username: str, password: str, display_name: str, mobile: str = "", id_number: str = "", email: str = ""
) -> Account:
    """Create or refresh a citizen account (the demo and the account import use it; registration with
    a one-time code comes with the identity issue). Idempotent: unchanged data writes nothing."""
    if mobile and not re.match(MOBILE_PATTERN, mobile):
        raise ValidationFailed("手机号码格式不正确，请填写 11 位中国大陆手机号。", code="invalid_mobile")
    if id_number and not is_valid_ric(id_number):
        raise ValidationFailed("公民身份号码校验未通过，请核对后重填。", code="invalid_id_number")
    with transaction.atomic():
        account, created = Account.objects.get_or_create(username=username, defaults={"kind": Account.Kind.CITIZEN})
        same = (account.display_name, account.mobile, account.id_number, account.email) == (display_name, mobile, id_number.upper(), email)
        if not created and same and account.check_password(password):
            return account
        account.kind = Account.Kind.CITIZEN
        account.display_name = display_name
        account.mobile = mobile
        account.id_number = id_number
        account.email = email
        account.set_password(password)
        account.save()
        audit_record(
            actor=actor,
            action="account.create" if created else "account.update",
            object_type="account",
            object_id=str(account.public_id),
            after={"username": username, "kind": "citizen", "mobile": mask_mobile(mobile), "id_number": mask_id_number(id_number)},
        )
    return account


def _key_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_client_create(
    *, actor: Any, name: str, department: Department, callback_url: str = "", rate_limit_per_minute: int = 3000
) -> tuple[ApiClient, dict[str, str]]:
    """Register a department system and issue it a live and a test key. The raw keys are returned
    once and never stored."""
    if ApiClient.objects.filter(name=name).exists():
        raise ValidationFailed(f"已存在名为“{name}”的接入系统。", code="client_exists")
    if rate_limit_per_minute < 1:
        raise ValidationFailed("每分钟调用上限必须大于 0。", code="invalid_rate_limit")
    with transaction.atomic():
        client = ApiClient.objects.create(
            name=name,
            department=department,
            callback_url=callback_url,
            callback_secret=secrets.token_hex(32),
            rate_limit_per_minute=rate_limit_per_minute,
        )
        keys = {kind: api_key_issue(actor=actor, client=client, kind=kind) for kind in ("live", "test")}
        audit_record(
            actor=actor,
            action="api_client.create",
            object_type="api_client",
            object_id=str(client.public_id),
            after={"name": name, "department": department.credit_code, "callback_url": callback_url},
        )
    return client, keys


def api_key_issue(*, actor: Any, client: ApiClient, kind: str, demo_secret: str = "") -> str:
    """Issue a key. ``demo_secret`` makes a predictable key for the demo province only."""
    prefix = secrets.token_hex(6) if not demo_secret else hashlib.sha256(demo_secret.encode()).hexdigest()[:12]
    raw = f"tb_{kind}_{prefix}{demo_secret or secrets.token_urlsafe(32)}"
    with transaction.atomic():
        ApiKey.objects.create(client=client, kind=kind, prefix=prefix, secret_hash=_key_digest(raw))
        audit_record(
            actor=actor,
            action="api_key.issue",
            object_type="api_client",
            object_id=str(client.public_id),
            after={"kind": kind, "prefix": prefix},
        )
    return raw


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The active key for a presented secret, or None. The prefix finds the row; the digest is
    compared in constant time."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != "tb" or len(parts[2]) < 13:
        return None
    key = ApiKey.objects.select_related("client", "client__department").filter(prefix=parts[2][:12], revoked_at=None).first()
    if key is None or not key.client.is_active or key.kind != parts[1]:
        return None
    if not secrets.compare_digest(key.secret_hash, _key_digest(raw)):
        return None
    return key


def account_find_by_id_number(id_number: str) -> Account | None:
    from tongban.common.crypto import blind_index

    return Account.objects.filter(id_number_index=blind_index(id_number.upper(), kind="id_number"), is_active=True).first()
