"""Reads of the org domain that other domains and pages use."""

from __future__ import annotations

import time

from django.db.models import QuerySet

from tongban.org.models import Department, Division, Hall


def division_get(code: str) -> Division | None:
    return Division.objects.filter(code=code).select_related("parent").first()


# Halls (one per division down to county: about a hundred rows) change when an operator loads
# divisions, a few times a year. Every portal page needs the current one, so each process keeps a
# snapshot for a minute instead of asking the database on every request.
_HALLS_TTL = 60.0
_HALLS: dict[str, object] = {"expires": 0.0, "by_code": {}, "main": None, "children": {}}


def forget_cached_halls() -> None:
    _HALLS["expires"] = 0.0


def _hall_snapshot() -> dict[str, object]:
    if _HALLS["expires"] > time.monotonic():  # type: ignore[operator]
        return _HALLS
    halls = list(Hall.objects.select_related("division", "division__parent").order_by("division__code"))
    children: dict[int | None, list[Hall]] = {}
    for hall in halls:
        children.setdefault(hall.division.parent_id, []).append(hall)
    _HALLS.update(
        by_code={hall.division.code: hall for hall in halls},
        main=next((hall for hall in halls if hall.kind == Hall.Kind.MAIN), None),
        children=children,
        expires=time.monotonic() + _HALLS_TTL,
    )
    return _HALLS


def halls_under(division: Division) -> list[Hall]:
    """Branch halls directly below a division's hall (cities of the province, counties of a city)."""
    return list(_hall_snapshot()["children"].get(division.pk, []))  # type: ignore[attr-defined]


def hall_get(code: str) -> Hall | None:
    return _hall_snapshot()["by_code"].get(code)  # type: ignore[attr-defined,no-any-return]


def main_hall() -> Hall | None:
    return _hall_snapshot()["main"]  # type: ignore[return-value]


def departments_in(division: Division) -> QuerySet[Department]:
    return Department.objects.filter(division=division).order_by("sort", "credit_code")
