"""Who of the staff may see and do what, as query filters (QUALITY.md: object-level access in the
query, not only in the views).

A staff member's reach is the set of departments in which they hold a role (``StaffRole``);
platform operators reach every department. Domains filter their querysets with these helpers so
that a clerk of another department gets an empty result from the database itself::

    cases = access.scope(Case.objects.all(), account, role=StaffRole.Role.REVIEWER)
    # … WHERE department_id IN (12, 57)   (the reviewer's departments, read first)

A role row without a department (an auditor of the whole province, an operator) reaches every
department for that role.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from tongban.identity.models import Account, StaffRole
from tongban.org.models import Department


def is_operator(account: Any) -> bool:
    return bool(
        getattr(account, "is_authenticated", False)
        and getattr(account, "is_active", False)
        and getattr(account, "kind", None) == Account.Kind.OPERATOR
    )


def _active_staff(account: Any) -> bool:
    return bool(
        getattr(account, "is_authenticated", False)
        and getattr(account, "is_active", False)
        and getattr(account, "kind", None) in (Account.Kind.STAFF, Account.Kind.OPERATOR)
        and getattr(account, "pk", None)
    )


def _roles(account: Any, role: str | None) -> QuerySet[StaffRole]:
    roles = StaffRole.objects.filter(account_id=account.pk)
    return roles.filter(role=role) if role else roles


def departments_for(account: Any, role: str | None = None) -> QuerySet[Department]:
    """The departments ``account`` holds ``role`` in (any role when ``role`` is None), as one query.
    Operators: every department. Anyone else (citizens, anonymous, inactive accounts): none."""
    if is_operator(account):
        return Department.objects.all()
    if not _active_staff(account):
        return Department.objects.none()
    roles = _roles(account, role)
    everywhere = roles.filter(department__isnull=True)
    in_department = roles.filter(department_id=OuterRef("pk"))
    return Department.objects.filter(Exists(in_department) | Exists(everywhere))


def staff_may(account: Any, role: str | None, department: Department | int | None) -> bool:
    """Whether ``account`` holds ``role`` (any role when None) in ``department``."""
    if department is None:
        return is_operator(account)
    pk = department.pk if isinstance(department, Department) else department
    return departments_for(account, role).filter(pk=pk).exists()


# A staff member's departments, up to this many, go into the filtered statement as values: as a
# subquery PostgreSQL guesses three quarters of all departments and walks every row of a large
# table in key order instead of the department's index range (0.6 s for a clerk's first queue page
# at 1,000,000 cases; benchmarks/cases_bench.py, P4).
LITERAL_DEPARTMENTS = 20


def scope(queryset: QuerySet[Any], account: Any, *, role: str | None = None, field: str = "department") -> QuerySet[Any]:
    """``queryset`` narrowed to the rows whose ``field`` (a foreign key to a department) lies in the
    staff member's reach for ``role``: the departments read first (one small query) and given as
    values, or, for a reach wider than LITERAL_DEPARTMENTS (a role without a department), a
    subquery in the same SQL statement."""
    if is_operator(account):
        return queryset
    if not _active_staff(account):
        return queryset.none()
    reach = departments_for(account, role)
    ids = list(reach.order_by().values_list("pk", flat=True)[: LITERAL_DEPARTMENTS + 1])
    if len(ids) <= LITERAL_DEPARTMENTS:
        return queryset.filter(**{f"{field}__in": ids})
    return queryset.filter(**{f"{field}__in": reach.values("pk")})


def role_filter(account: Any, role: str | None = None, *, field: str = "department") -> Q:
    """The same reach as a ``Q`` for composing with other conditions (``field`` names the
    department foreign key of the filtered model)."""
    if is_operator(account):
        return Q()
    if not _active_staff(account):
        return Q(pk__in=[])
    return Q(**{f"{field}__in": departments_for(account, role).values("pk")})
