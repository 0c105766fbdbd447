"""Reads of the catalogue that pages, the API and search use. Only published data leaves here
unless a function says otherwise (the console's own reads live in the console's queries)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from tongban.catalog.models import BaseItem, ChangeFeed, Implementation, Status, Synonym, Theme, Zone, ZoneEntry
from tongban.org.models import Division


def visible_implementations() -> QuerySet[Implementation]:
    return Implementation.objects.filter(status=Status.PUBLISHED, base__status=Status.PUBLISHED)


@dataclass(frozen=True)
class Scope:
    """What a hall at a division offers. `ids`: every division whose implementations it lists (its
    own, its ancestors', those below it), None for the province's main hall, which lists everything.
    `chain`: the division and its ancestors, province first."""

    ids: tuple[int, ...] | None
    chain: tuple[int, ...]


# Administrative divisions change a few times a year, by a data load; a minute's delay before a
# hall's scope notices is harmless and saves a query on every page and search.
_SCOPE_TTL = 60.0
_SCOPES: dict[tuple[int, str], tuple[float, Scope]] = {}


def forget_cached_scopes() -> None:
    """Drop the per-process scope cache (after loading divisions, and between tests)."""
    _SCOPES.clear()


def _scope(division: Division) -> Scope:
    key = (division.pk, division.path)
    now = time.monotonic()
    cached = _SCOPES.get(key)
    if cached and cached[0] > now:
        return cached[1]
    rows = list(
        Division.objects.filter(Q(code__in=division.ancestor_codes) | Q(path__startswith=division.path + "/")).values_list("pk", "code")
    )
    by_code = {code: pk for pk, code in rows}
    chain = tuple(by_code[code] for code in division.ancestor_codes if code in by_code)
    scope = Scope(ids=None if division.parent_id is None else tuple(pk for pk, _ in rows), chain=chain)
    if len(_SCOPES) > 10_000:
        _SCOPES.clear()
    _SCOPES[key] = (now + _SCOPE_TTL, scope)
    return scope


def _published(**filters: object) -> QuerySet[Implementation]:
    return Implementation.objects.filter(base=OuterRef("pk"), status=Status.PUBLISHED, **filters)


def _has_impl_in_scope(division: Division, *, department: str | None = None, level: int | None = None) -> Exists:
    """EXISTS over the (base, status, division) index: stops at the first implementation found,
    however many regions implement the item (the outer query checks the base item's own status)."""
    inner = _published()
    ids = _scope(division).ids
    if ids is not None:
        inner = inner.filter(division_id__in=ids)
    if department:
        inner = inner.filter(department__credit_code=department)
    if level is not None:
        inner = inner.filter(level=level)
    return Exists(inner)


def items_available(
    candidates: list[int], division: Division, *, department: str | None = None, level: int | None = None, theme: str | None = None
) -> set[int]:
    """Which of these base items a hall offers: published, implemented in its scope, matching the filters."""
    qs = BaseItem.objects.filter(pk__in=candidates, status=Status.PUBLISHED).filter(
        _has_impl_in_scope(division, department=department, level=level)
    )
    if theme:
        qs = qs.filter(themes__code=theme)
    return set(qs.values_list("pk", flat=True))


@dataclass(frozen=True)
class OfferedSql:
    """SQL, over a column holding base-item ids, that says whether a hall offers the item (and how
    close its nearest implementation is), for readers that rank in one query (search). The
    catalogue keeps the knowledge of its tables here; callers only splice the fragments in."""

    where: str
    where_params: list[object]
    closeness: str
    closeness_params: list[object]


def offered_sql(
    division: Division, *, item_column: str, department: str | None = None, level: int | None = None, theme: str | None = None
) -> OfferedSql:
    scope = _scope(division)
    impl = Implementation._meta.db_table
    base = BaseItem._meta.db_table
    published = Status.PUBLISHED.value
    conditions = [f"i.base_id = {item_column}", "i.status = %s"]
    params: list[object] = [published]
    if scope.ids is not None:
        conditions.append(f"i.division_id IN ({', '.join('%s' for _ in scope.ids)})")
        params.extend(scope.ids)
    if department:
        from tongban.org.models import Department

        conditions.append(f"i.department_id IN (SELECT id FROM {Department._meta.db_table} WHERE credit_code = %s)")
        params.append(department)
    if level is not None:
        conditions.append("i.level = %s")
        params.append(level)
    where = f"EXISTS (SELECT 1 FROM {impl} i WHERE {' AND '.join(conditions)})"
    where += f" AND EXISTS (SELECT 1 FROM {base} b WHERE b.id = {item_column} AND b.status = %s)"
    params.append(published)
    if theme:
        through = BaseItem.themes.through._meta.db_table
        where += (
            f" AND EXISTS (SELECT 1 FROM {through} bt JOIN {Theme._meta.db_table} t ON t.id = bt.theme_id"
            f" WHERE bt.baseitem_id = {item_column} AND t.code = %s)"
        )
        params.append(theme)
    chain = list(scope.chain) or [division.pk]
    closeness = (
        f"CASE WHEN EXISTS (SELECT 1 FROM {impl} i WHERE i.base_id = {item_column} AND i.status = %s AND i.division_id = %s) THEN 2"
        f" WHEN EXISTS (SELECT 1 FROM {impl} i WHERE i.base_id = {item_column} AND i.status = %s"
        f" AND i.division_id IN ({', '.join('%s' for _ in chain)})) THEN 1 ELSE 0 END"
    )
    return OfferedSql(where, params, closeness, [published, division.pk, published, *chain])


def popular_items(division: Division, *, limit: int = 8) -> list[BaseItem]:
    qs = BaseItem.objects.filter(status=Status.PUBLISHED).filter(_has_impl_in_scope(division))
    return list(qs.order_by("-popularity", "code")[:limit])


def items_for_theme(theme: Theme, division: Division) -> list[BaseItem]:
    return list(theme.items.filter(status=Status.PUBLISHED).filter(_has_impl_in_scope(division)).order_by("-popularity", "code"))


def themes(audience: str) -> list[Theme]:
    return list(Theme.objects.filter(audience=audience).order_by("sort", "code"))


def themes_by_audience() -> dict[str, list[Theme]]:
    """Every theme in one query, grouped: {"person": [...], "enterprise": [...]}."""
    grouped: dict[str, list[Theme]] = {"person": [], "enterprise": []}
    for theme in Theme.objects.order_by("sort", "code"):
        grouped.setdefault(theme.audience, []).append(theme)
    return grouped


def theme_get(code: str) -> Theme | None:
    return Theme.objects.filter(code=code).first()


def zones_published() -> list[Zone]:
    return list(Zone.objects.filter(status=Status.PUBLISHED).order_by("sort", "code"))


def zone_get_published(code: str) -> Zone | None:
    return Zone.objects.filter(code=code, status=Status.PUBLISHED).first()


def zone_items(zone: Zone, division: Division) -> list[BaseItem]:
    allowed = items_available(list(zone.entries.values_list("item_id", flat=True)), division)
    entries = ZoneEntry.objects.filter(zone=zone, item_id__in=allowed).select_related("item").order_by("sort", "id")
    return [e.item for e in entries]


def base_item_get_published(code: str) -> BaseItem | None:
    return BaseItem.objects.filter(code=code, status=Status.PUBLISHED).first()


def implementation_get_published(code: str) -> Implementation | None:
    return (
        visible_implementations()
        .filter(code=code)
        .select_related("base", "department", "department__division", "division", "division__parent")
        .prefetch_related("base__materials", "base__steps", "base__fees", "base__faqs", "base__themes")
        .first()
    )


@dataclass
class Resolution:
    """Where a base item leads from a hall: straight to one guide, or to a choice of regions."""

    item: BaseItem
    direct: Implementation | None
    choices: list[Implementation]


def resolve_for_hall(item: BaseItem, division: Division) -> Resolution:
    """The implementation serving this hall's own division (the deepest of itself and its ancestors),
    otherwise the implementations below it to choose from."""
    own = list(
        visible_implementations().filter(base=item, division__code__in=division.ancestor_codes).select_related("department", "division")
    )
    if own:
        own.sort(key=lambda impl: (-impl.division.level, impl.code))
        return Resolution(item=item, direct=own[0], choices=[])
    below = list(
        visible_implementations()
        .filter(base=item, division__path__startswith=division.path + "/")
        .select_related("department", "division", "division__parent")
        .order_by("division__code", "code")
    )
    if len(below) == 1:
        return Resolution(item=item, direct=below[0], choices=[])
    return Resolution(item=item, direct=None, choices=below)


def resolve_many(items: list[BaseItem], division: Division) -> dict[int, Implementation | None]:
    """For lists: the direct implementation per item when there is one (one query for the page)."""
    if not items:
        return {}
    chain = _scope(division).chain
    depth = {pk: index for index, pk in enumerate(chain)}
    rows = sorted(
        visible_implementations().filter(base__in=items, division_id__in=chain).select_related("division", "department"),
        key=lambda impl: (-depth[impl.division_id], impl.code),
    )
    result: dict[int, Implementation | None] = {item.pk: None for item in items}
    for impl in rows:
        if result.get(impl.base_id) is None:
            result[impl.base_id] = impl
    return result


def implementations_filtered(
    *,
    division: str | None = None,
    department: str | None = None,
    theme: str | None = None,
    service_object: int | None = None,
    level: int | None = None,
    item_type: str | None = None,
) -> QuerySet[Implementation]:
    qs = visible_implementations().select_related("base", "department", "division")
    if division:
        qs = qs.filter(division__code=division)
    if department:
        qs = qs.filter(department__credit_code=department)
    if theme:
        qs = qs.filter(base__themes__code=theme)
    if service_object is not None:
        qs = qs.filter(base__in=BaseItem.objects.filter(pk__in=_items_serving(service_object)))
    if level is not None:
        qs = qs.filter(level=level)
    if item_type:
        qs = qs.filter(base__item_type=item_type)
    return qs


def _items_serving(service_object: int) -> list[int]:
    # JSON containment differs per engine; the base-item table is small, so filter in Python.
    return [pk for pk, objects in BaseItem.objects.values_list("pk", "service_objects") if service_object in (objects or [])]


def items_by_pk(pks: list[int]) -> dict[int, BaseItem]:
    return {item.pk: item for item in BaseItem.objects.filter(pk__in=pks)}


def searchable_items(codes: list[str] | None = None) -> QuerySet[BaseItem]:
    """Published base items with at least one published implementation: what search may show."""
    qs = BaseItem.objects.filter(status=Status.PUBLISHED).filter(
        Exists(Implementation.objects.filter(base=OuterRef("pk"), status=Status.PUBLISHED))
    )
    if codes is not None:
        qs = qs.filter(code__in=codes)
    return qs.prefetch_related("themes", "materials", "faqs")


def departments_of_items(pks: list[int]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for base_id, name, kind in (
        visible_implementations().filter(base_id__in=pks).values_list("base_id", "department__name", "department__kind").distinct()
    ):
        out.setdefault(base_id, set()).update({name, kind})
    return out


def synonyms() -> dict[str, list[str]]:
    return {s.term: list(s.expansions) for s in Synonym.objects.all()}


def feed_after(last_id: int, limit: int) -> list[tuple[int, str]]:
    return list(ChangeFeed.objects.filter(id__gt=last_id).order_by("id").values_list("id", "base_code")[:limit])


def feed_head() -> int:
    last = ChangeFeed.objects.order_by("-id").values_list("id", flat=True).first()
    return last or 0


def unknown_base_codes(codes: list[str]) -> list[str]:
    """The codes among these that name no base item (identity's mandates check their items)."""
    known = set(BaseItem.objects.filter(code__in=codes).values_list("code", flat=True))
    return [code for code in codes if code not in known]
