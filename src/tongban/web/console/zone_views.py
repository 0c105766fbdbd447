"""Zones (专区) and search synonyms (同义词)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from tongban.catalog import codes
from tongban.catalog import services as catalog
from tongban.catalog.models import Zone
from tongban.common.errors import DomainError
from tongban.common.pagination import BadCursor
from tongban.web.console import forms as f
from tongban.web.console import queries
from tongban.web.console.access import operator_view
from tongban.web.console.views import not_found

SYNONYM_PAGE_SIZE = 100


@operator_view
@require_GET
def zones(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "console/zones.html",
        {"title": "专区", "section": "zones", "zones": queries.zones(), "kinds": codes.ZONE_KINDS},
    )


@operator_view
@require_http_methods(["GET", "POST"])
def zone_new(request: HttpRequest) -> HttpResponse:
    return _zone_form(request, None)


@operator_view
@require_http_methods(["GET", "POST"])
def zone_edit(request: HttpRequest, code: str) -> HttpResponse:
    zone = queries.zone_get(code)
    if zone is None:
        return not_found(request, f"没有找到专区“{code}”。")
    return _zone_form(request, zone)


def _zone_form(request: HttpRequest, zone: Zone | None) -> HttpResponse:
    entries = queries.zone_item_codes(zone) if zone else []
    initial: dict[str, Any] = {}
    if zone is not None:
        initial = {
            "code": zone.code,
            "name": zone.name,
            "kind": zone.kind,
            "description": zone.description,
            "sort": zone.sort,
            "status": zone.status,
            "item_codes": [code for code, _name in entries],
        }
    if request.method == "GET":
        return _render_zone(request, zone, f.ZoneForm(initial=initial, editing=zone is not None), entries)
    form = f.ZoneForm(request.POST, initial=initial, editing=zone is not None)
    valid = form.is_valid()
    if valid and zone is None and queries.zone_get(form.cleaned_data["code"]) is not None:
        form.add_error("code", f"编码为“{form.cleaned_data['code']}”的专区已存在。")
        valid = False
    if not valid:
        return _render_zone(request, zone, form, entries, status=422)
    data = form.cleaned_data
    try:
        saved = catalog.zone_save(
            actor=request.user,
            code=zone.code if zone else data["code"],
            name=data["name"],
            kind=data["kind"],
            item_codes=data["item_codes"],
            description=data["description"],
            sort=data["sort"],
            status=data["status"],
        )
    except DomainError as exc:
        form.add_error("item_codes", exc.message)
        return _render_zone(request, zone, form, entries, error=exc, status=exc.status)
    messages.success(request, f"专区“{saved.name}”已保存，共 {len(dict.fromkeys(data['item_codes']))} 个事项。")
    return redirect("console:zone", code=saved.code)


def _render_zone(
    request: HttpRequest, zone: Zone | None, form: f.ZoneForm, entries: list[tuple[str, str]], *, error: Any = None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "console/zone_form.html",
        {
            "title": f"专区：{zone.name}" if zone else "新建专区",
            "section": "zones",
            "zone": zone,
            "form": form,
            "entries": entries,
            "error": error,
        },
        status=status,
    )


@operator_view
@require_http_methods(["GET", "POST"])
def synonyms(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = f.SynonymForm(request.POST)
        if not form.is_valid():
            return _render_synonyms(request, form, status=422)
        term = form.cleaned_data["term"]
        try:
            saved = catalog.synonym_set(actor=request.user, term=term, expansions=form.cleaned_data["expansions"])
        except DomainError as exc:
            return _render_synonyms(request, form, error=exc, status=exc.status)
        messages.success(request, f"已保存：搜索“{saved.term}”时也查找“{'、'.join(saved.expansions)}”。搜索索引将随后更新。")
        return redirect("console:synonyms")
    existing = queries.synonym_get(request.GET.get("term", "")) if request.GET.get("term") else None
    form = f.SynonymForm(initial={"term": existing.term, "expansions": existing.expansions} if existing else None)
    return _render_synonyms(request, form)


def _render_synonyms(request: HttpRequest, form: f.SynonymForm, *, error: Any = None, status: int = 200) -> HttpResponse:
    filters = f.SynonymFilterForm(request.GET or None)
    q, cursor, list_error = "", None, ""
    if filters.is_bound and filters.is_valid():
        q, cursor = filters.cleaned_data["q"], filters.cleaned_data["cursor"] or None
    try:
        page = queries.synonym_page(q=q, cursor=cursor, limit=SYNONYM_PAGE_SIZE)
    except BadCursor as exc:
        list_error, cursor = exc.message, None
        page = queries.synonym_page(q=q, cursor=None, limit=SYNONYM_PAGE_SIZE)
    next_url = "?" + urlencode({k: v for k, v in {"q": q, "cursor": page.next_cursor}.items() if v}) if page.next_cursor else None
    return render(
        request,
        "console/synonyms.html",
        {
            "title": "同义词",
            "section": "synonyms",
            "form": form,
            "filters": filters,
            "synonyms": page.items,
            "next_url": next_url,
            "first_url": "?" + urlencode({"q": q}) if cursor else None,
            "error": error,
            "list_error": list_error,
        },
        status=status,
    )
