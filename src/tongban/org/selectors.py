"""Reads of the org domain that other domains and pages use."""

from __future__ import annotations

from django.db.models import QuerySet

from tongban.org.models import Department, Division, Hall


def division_get(code: str) -> Division | None:
    return Division.objects.filter(code=code).select_related("parent").first()


def division_children(parent: Division | None) -> QuerySet[Division]:
    if parent is None:
        return Division.objects.filter(parent__isnull=True)
    return Division.objects.filter(parent=parent)


def halls_under(division: Division) -> QuerySet[Hall]:
    """Branch halls directly below a division's hall (cities of the province, counties of a city)."""
    return Hall.objects.filter(division__parent=division).select_related("division").order_by("division__code")


def hall_get(code: str) -> Hall | None:
    return Hall.objects.filter(division__code=code).select_related("division", "division__parent").first()


def main_hall() -> Hall | None:
    return Hall.objects.filter(kind=Hall.Kind.MAIN).select_related("division").first()


def departments_in(division: Division) -> QuerySet[Department]:
    return Department.objects.filter(division=division).order_by("sort", "credit_code")
