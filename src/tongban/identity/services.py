"""Account writes used by the console and the demo loader (full identity services come later)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from tongban.common.audit import audit_record
from tongban.common.errors import ValidationFailed
from tongban.identity.models import Account
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
        account.save()
        audit_record(
            actor=actor,
            action="account.create" if created else "account.update",
            object_type="account",
            object_id=str(account.public_id),
            after={"username": username, "kind": kind, "department": department.credit_code if department else None},
        )
    return account
