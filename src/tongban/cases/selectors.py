"""Reads of cases. What a person or a clerk may see is part of the query: another's case looks the
same as no case."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from tongban.cases.models import Case
from tongban.common.pagination import Page, paginate_by_key
from tongban.identity import access


def _key(case_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(case_id))
    except ValueError:
        return None


def case_get_for_applicant(*, account: Any, case_id: str) -> Case | None:
    key = _key(case_id)
    return Case.objects.select_related("implementation__base").filter(public_id=key, applicant=account).first() if key else None


def case_get_for_staff(*, account: Any, case_id: str) -> Case | None:
    key = _key(case_id)
    if key is None:
        return None
    return _scoped(account).select_related("implementation__base").filter(public_id=key).first()


def _scoped(account: Any) -> QuerySet[Case]:
    # On the case's own department column (indexed with state and id), not through the
    # implementation: one index range per department the clerk holds a role in (access.scope
    # gives a clerk's few departments as values).
    return access.scope(Case.objects.exclude(state="draft"), account, field="department")


# Columns a queue row never shows: the form, texts and the catalogue's long fields (decoding them
# was most of a page's cost at 1,000,000 cases).
QUEUE_DEFERRED = (
    "form_data",
    "commitment_text",
    "query_password_hash",
    "implementation__handling_forms",
    "implementation__online_depth",
    "implementation__base__summary",
    "implementation__base__legal_basis",
    "implementation__base__conditions",
    "implementation__base__service_objects",
    "implementation__base__levels",
    "implementation__base__aliases",
    "implementation__base__keywords",
)


def work_queue(
    *,
    account: Any,
    states: list[str] | None = None,
    cursor: str | None = None,
    limit: int = 50,
    division: str | None = None,
    assignee: Any = None,
    unclaimed: bool = False,
) -> Page[Case]:
    """A clerk's queue: cases of the departments they hold a role in, oldest first, keyset pages.
    Narrowed to one division's departments (``division``: its code), to the cases ``assignee``
    claimed, or to the unclaimed ones."""
    qs = _scoped(account).select_related("implementation__base").defer(*QUEUE_DEFERRED)
    if states:
        qs = qs.filter(state__in=states)
    if division:
        qs = qs.filter(department__division__code=division)
    if assignee is not None:
        qs = qs.filter(assignee_id=getattr(assignee, "pk", assignee))
    elif unclaimed:
        qs = qs.filter(assignee__isnull=True)
    return paginate_by_key(qs, key="id", cursor=cursor, limit=limit)


def cases_of(*, account: Any, cursor: str | None = None, limit: int = 20) -> Page[Case]:
    """我的办件: the applicant's own cases, newest first."""
    qs = Case.objects.filter(applicant=account).select_related("implementation__base")
    return paginate_by_key(qs, key="-id", cursor=cursor, limit=limit)
