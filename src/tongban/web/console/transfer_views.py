"""Import and export of the catalogue exchange format (docs/catalog-format.md), JSON or xlsx."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from tongban.catalog import schema, transfer
from tongban.catalog import services as catalog
from tongban.common.errors import DomainError
from tongban.web.console import forms as f
from tongban.web.console.access import operator_view

CONTENT_TYPES = {
    "json": "application/json; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _columns(spec: list[schema.Field], lead: bool = False) -> list[dict[str, Any]]:
    """The column reference shown on the import page, from the same table the import validates with."""
    rows = [{"label": transfer.ITEM_CODE_LABEL, "key": "—", "required": True, "values": "所属事项"}] if lead else []
    for field in spec:
        labels = f.CHOICE_LABELS.get(field.key, {})
        if field.choices is not None:
            values = "；".join(f"{value} {labels.get(value, '')}".strip() for value in _ordered(field.choices, labels))
        elif field.kind == "bool":
            values = "是 / 否"
        elif field.kind in ("list_str", "list_int"):
            values = "多项用“；”分隔"
        elif field.max_len:
            values = f"不超过 {field.max_len} 字"
        else:
            values = ""
        rows.append({"label": field.label, "key": field.key, "required": field.required, "values": values})
    return rows


def _ordered(choices: frozenset[Any], labels: dict[Any, str]) -> list[Any]:
    return [value for value in labels if value in choices] + sorted((v for v in choices if v not in labels), key=str)


SHEETS = [
    (transfer.ITEM_SHEET, "items", _columns(schema.ITEM_FIELDS)),
    *[(title, key, _columns(spec, lead=True)) for key, title, spec in transfer.NESTED_SHEETS],
    (transfer.IMPL_SHEET, "implementations", _columns(schema.IMPLEMENTATION_FIELDS)),
]


def _render(
    request: HttpRequest, *, form: Any = None, export_form: Any = None, refused: Any = None, error: Any = None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "console/import.html",
        {
            "title": "导入导出",
            "section": "transfer",
            "form": form or f.ImportForm(),
            "export_form": export_form or f.ExportForm(),
            "refused": refused,
            "error": error,
            "limit": f.upload_limit_text(),
            "sheets": SHEETS,
            "format": transfer.FORMAT,
        },
        status=status,
    )


@operator_view
@require_http_methods(["GET", "POST"])
def catalog_import(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _render(request)
    form = f.ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        return _render(request, form=form, status=422)
    upload = form.cleaned_data["file"]
    try:
        data = upload.read()
        payload = transfer.read_json(data) if form.kind == "json" else transfer.read_xlsx(data)
        result = catalog.catalog_import(actor=request.user, payload=payload)
    except catalog.ImportRefused as exc:
        return _render(request, form=form, refused=exc, status=exc.status)
    except DomainError as exc:
        return _render(request, form=form, error=exc, status=exc.status)
    messages.success(
        request,
        f"“{upload.name}”已导入：新建事项 {result.items_created} 项，更新事项 {result.items_updated} 项；"
        f"新建实施事项 {result.implementations_created} 项，更新实施事项 {result.implementations_updated} 项。",
    )
    return redirect("console:import")


def _download(body: bytes, kind: str, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type=CONTENT_TYPES[kind])
    # ASCII-only names: every browser and every mail gateway keeps them intact.
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@operator_view
@require_GET
def catalog_export(request: HttpRequest) -> HttpResponse:
    form = f.ExportForm(request.GET)
    if not form.is_valid():
        return _render(request, export_form=form, status=422)
    kind = form.cleaned_data["format"]
    published_only = form.cleaned_data["published_only"]
    payload = transfer.export_payload(published_only=published_only)
    body = transfer.write_json(payload) if kind == "json" else transfer.write_xlsx(payload)
    stamp = timezone.localdate().strftime("%Y%m%d")
    name = f"tongban-catalog-{'published-' if published_only else ''}{stamp}.{kind}"
    return _download(body, kind, name)


@operator_view
@require_GET
def catalog_template(request: HttpRequest) -> HttpResponse:
    """An empty workbook with every sheet and column header, to fill in and import."""
    body = transfer.write_xlsx({"format": transfer.FORMAT, "items": [], "implementations": []})
    return _download(body, "xlsx", "tongban-catalog-template.xlsx")
