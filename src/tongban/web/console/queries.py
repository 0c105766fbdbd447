"""The console's own reads of the catalogue, drafts included.

What an account may see is part of the query: operators see everything; department staff see the
implementations of their own department and the base items those implement; anything else is
"not there". Lists page by key and never COUNT the whole table.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from tongban.catalog.models import BaseItem, Implementation, Status, Synonym, Theme, Zone
from tongban.common.models import AuditEvent
from tongban.common.pagination import Page, paginate_by_key
from tongban.identity.models import Account
from tongban.org.models import CalendarYear, Department, Division, WorkdayOverride
from tongban.web.console.access import is_operator

HISTORY_LIMIT = 50
RECENT_EVENTS = 20


# --- scope -----------------------------------------------------------------------------------


def implementations_for(account: Any) -> QuerySet[Implementation]:
    qs = Implementation.objects.all()
    if is_operator(account):
        return qs
    if getattr(account, "kind", None) == Account.Kind.STAFF and account.department_id:
        return qs.filter(department_id=account.department_id)
    return qs.none()


def items_for(account: Any) -> QuerySet[BaseItem]:
    qs = BaseItem.objects.all()
    if is_operator(account):
        return qs
    return qs.filter(Exists(implementations_for(account).filter(base=OuterRef("pk"))))


# --- items ------------------------------------------------------------------------------------


def item_page(account: Any, *, q: str, status: str, item_type: str, theme: str, cursor: str | None, limit: int) -> Page[BaseItem]:
    qs = items_for(account)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(code__startswith=q.upper()))
    if status:
        qs = qs.filter(status=status)
    if item_type:
        qs = qs.filter(item_type=item_type)
    if theme:
        qs = qs.filter(themes__code=theme)
    return paginate_by_key(qs, key="code", cursor=cursor, limit=limit)


def implementation_counts(account: Any, items: list[BaseItem]) -> dict[int, int]:
    """Implementations per base item of one page (one grouped query over the page's ids only)."""
    rows = implementations_for(account).filter(base__in=items).values("base_id").annotate(n=Count("id")).order_by()
    return {row["base_id"]: row["n"] for row in rows}


def item_get_for(account: Any, code: str) -> BaseItem | None:
    return items_for(account).filter(code=code).prefetch_related("themes", "materials", "steps", "fees", "faqs").first()


def item_divisions(account: Any, item: BaseItem) -> list[Division]:
    """Divisions where this item has implementations the account may see, with their ancestors (for the filter)."""
    paths = implementations_for(account).filter(base=item).values_list("division__path", flat=True).distinct()
    codes = {code for path in paths for code in path.split("/")}
    return list(Division.objects.filter(code__in=codes).order_by("path"))


def implementation_page(account: Any, item: BaseItem, *, division: Division | None, cursor: str | None, limit: int) -> Page[Implementation]:
    qs = implementations_for(account).filter(base=item).select_related("department", "division")
    if division is not None:
        qs = qs.filter(Q(division=division) | Q(division__path__startswith=division.path + "/"))
    return paginate_by_key(qs, key="code", cursor=cursor, limit=limit)


def implementation_get_for(account: Any, code: str) -> Implementation | None:
    return implementations_for(account).select_related("base", "department", "division").filter(code=code).first()


def implementation_exists(item: BaseItem, credit_code: str, level: int) -> bool:
    return Implementation.objects.filter(base=item, department__credit_code=credit_code, level=level).exists()


def division_get(code: str) -> Division | None:
    return Division.objects.filter(code=code).first()


def item_history(item: BaseItem) -> list[AuditEvent]:
    """Changes of the base item itself (its guide and status), newest first."""
    qs = AuditEvent.objects.filter(object_type="item", object_id=item.code).order_by("-at", "-id")
    return list(qs[:HISTORY_LIMIT])


def item_implementations_history(account: Any, item: BaseItem) -> list[AuditEvent]:
    """Changes of this item's implementations that the account may see, newest first. Kept apart from the
    item's own history so a province-wide roll-out of implementations does not bury a change of the guide."""
    impl_codes = implementations_for(account).filter(base=item).values("code")
    qs = AuditEvent.objects.filter(object_type="implementation", object_id__in=impl_codes).order_by("-at", "-id")
    return list(qs[:HISTORY_LIMIT])


def implementation_history(impl: Implementation) -> list[AuditEvent]:
    qs = AuditEvent.objects.filter(object_type="implementation", object_id=impl.code).order_by("-at", "-id")
    return list(qs[:HISTORY_LIMIT])


def item_last_change(code: str) -> AuditEvent | None:
    return AuditEvent.objects.filter(object_type="item", object_id=code).order_by("-at", "-id").first()


def implementation_last_change(code: str) -> AuditEvent | None:
    return AuditEvent.objects.filter(object_type="implementation", object_id=code).order_by("-at", "-id").first()


def themes() -> list[Theme]:
    return list(Theme.objects.order_by("audience", "sort", "code"))


def departments_matching(text: str, limit: int = 20) -> list[Department]:
    text = text.strip()
    if not text:
        return []
    qs = Department.objects.select_related("division").filter(
        Q(name__icontains=text)
        | Q(short_name__icontains=text)
        | Q(credit_code__startswith=text.upper())
        | Q(division__name__icontains=text)
    )
    return list(qs.order_by("division__code", "sort", "credit_code")[:limit])


def department_get(credit_code: str) -> Department | None:
    return Department.objects.select_related("division").filter(credit_code=credit_code).first()


# --- home --------------------------------------------------------------------------------------


def dashboard(account: Any) -> dict[str, Any]:
    """The figures of the console home; small grouped counts over indexed status columns."""
    by_status = dict.fromkeys(Status.values, 0)
    for row in items_for(account).values("status").annotate(n=Count("id")).order_by():
        by_status[row["status"]] = row["n"]
    impl_by_status = dict.fromkeys(Status.values, 0)
    for row in implementations_for(account).values("status").annotate(n=Count("id")).order_by():
        impl_by_status[row["status"]] = row["n"]
    return {
        "items": [(label, by_status[value], value) for value, label in Status.choices],
        "implementations": [(label, impl_by_status[value], value) for value, label in Status.choices],
        "implementations_published": impl_by_status[Status.PUBLISHED],
        "divisions": Division.objects.count(),
        "departments": Department.objects.count(),
    }


def recent_events(limit: int = RECENT_EVENTS) -> list[AuditEvent]:
    return list(AuditEvent.objects.order_by("-at", "-id")[:limit])


# --- zones, synonyms, calendar -----------------------------------------------------------------


def zones() -> list[Zone]:
    return list(Zone.objects.annotate(item_count=Count("entries")).order_by("sort", "code"))


def zone_get(code: str) -> Zone | None:
    return Zone.objects.filter(code=code).first()


def zone_item_codes(zone: Zone) -> list[tuple[str, str]]:
    return list(zone.entries.order_by("sort", "id").values_list("item__code", "item__name"))


def synonym_page(*, q: str, cursor: str | None, limit: int) -> Page[Synonym]:
    qs = Synonym.objects.all()
    if q:
        qs = qs.filter(term__icontains=q)
    return paginate_by_key(qs, key="term", cursor=cursor, limit=limit)


def synonym_get(term: str) -> Synonym | None:
    return Synonym.objects.filter(term=term).first()


def overrides_of_year(year: int) -> list[WorkdayOverride]:
    return list(WorkdayOverride.objects.filter(date__year=year).order_by("date"))


def override_get(date: Any) -> WorkdayOverride | None:
    return WorkdayOverride.objects.filter(date=date).first()


def calendar_year_get(year: int) -> CalendarYear | None:
    return CalendarYear.objects.filter(year=year).first()
