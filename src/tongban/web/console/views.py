"""Operator console (运营管理后台): home, base items and implementations.

Views are thin: a Django form checks what was typed, one catalogue service does the work, and a
`DomainError` it raises is shown beside the form with the input kept. Reads go through
`console.queries`, where what an account may see is part of the query.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tongban.catalog import codes
from tongban.catalog import services as catalog
from tongban.catalog.models import BaseItem, Implementation, Status
from tongban.common.errors import Conflict, DomainError
from tongban.common.pagination import BadCursor
from tongban.org import calendar as workdays
from tongban.web.console import forms as f
from tongban.web.console import present, queries
from tongban.web.console.access import console_view, is_operator, operator_view

PAGE_SIZE = 50
IMPL_PAGE_SIZE = 20


def not_found(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "console/message.html", {"title": "没有找到", "message": message}, status=404)


def _theme_choices() -> list[tuple[str, str]]:
    return [(t.code, f"{t.name}（{t.get_audience_display()}）") for t in queries.themes()]


def _query(params: dict[str, Any]) -> str:
    return "?" + urlencode({k: v for k, v in params.items() if v not in (None, "")})


def _details(error: DomainError | None) -> list[str]:
    """The service's list of problems, each shown in the summary at the top."""
    if error is None or not isinstance(error.details, list):
        return []
    return [d for d in error.details if isinstance(d, str)]


def _clear_errors(*forms: Any) -> None:
    """After "增加一行" the form is shown again, not submitted: validate (to build the rows) but show no errors."""
    for form in forms:
        if hasattr(form, "forms"):
            form.management_form.errors.clear()
            form.non_form_errors().clear()
            _clear_errors(*form.forms)
        else:
            form.errors.clear()


# --- home ----------------------------------------------------------------------------------------


@console_view
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    operator = is_operator(request.user)
    return render(
        request,
        "console/home.html",
        {
            "title": "首页",
            "section": "home",
            "figures": queries.dashboard(request.user),
            "events": present.event_views(queries.recent_events()) if operator else [],
            # Deadlines crossing New Year cannot be counted until next year's holidays are entered.
            "calendar_missing": workdays.next_year_missing(timezone.localdate()) if operator else None,
        },
    )


# --- base items ----------------------------------------------------------------------------------


@console_view
@require_GET
def items(request: HttpRequest) -> HttpResponse:
    form = f.ItemFilterForm(request.GET or None, theme_choices=_theme_choices())
    filters = {"q": "", "status": "", "item_type": "", "theme": ""}
    cursor = None
    error = ""
    if form.is_bound:
        if form.is_valid():
            filters = {key: form.cleaned_data[key] for key in filters}
            cursor = form.cleaned_data["cursor"] or None
        else:
            error = "筛选条件无效，请重新选择。"
    try:
        page = queries.item_page(request.user, **filters, cursor=cursor, limit=PAGE_SIZE)
    except BadCursor as exc:
        error, cursor = exc.message, None
        page = queries.item_page(request.user, **filters, cursor=None, limit=PAGE_SIZE)
    counts = queries.implementation_counts(request.user, page.items)
    return render(
        request,
        "console/items.html",
        {
            "title": "事项目录",
            "section": "items",
            "form": form,
            "error": error,
            "rows": [(item, counts.get(item.pk, 0)) for item in page.items],
            "filtered": any(filters.values()),
            "first_url": _query(filters) if cursor else None,
            "next_url": _query({**filters, "cursor": page.next_cursor}) if page.next_cursor else None,
            "can_write": is_operator(request.user),
        },
    )


@console_view
@require_GET
def item_detail(request: HttpRequest, code: str) -> HttpResponse:
    item = queries.item_get_for(request.user, code)
    if item is None:
        return not_found(request, f"没有找到事项“{code}”，或该事项不属于您的部门。")
    return _render_item(request, item)


def _render_item(
    request: HttpRequest, item: BaseItem, *, status_form: Any = None, status_error: DomainError | None = None, status: int = 200
) -> HttpResponse:
    user = request.user
    divisions = queries.item_divisions(user, item)
    impl_filter = f.ImplementationFilterForm(request.GET or None, division_choices=[(d.code, f"{d.name}（{d.code}）") for d in divisions])
    division = None
    cursor = None
    if impl_filter.is_bound and impl_filter.is_valid():
        division = queries.division_get(impl_filter.cleaned_data["division"]) if impl_filter.cleaned_data["division"] else None
        cursor = impl_filter.cleaned_data["impl_cursor"] or None
    try:
        impls = queries.implementation_page(user, item, division=division, cursor=cursor, limit=IMPL_PAGE_SIZE)
    except BadCursor:
        cursor = None
        impls = queries.implementation_page(user, item, division=division, cursor=None, limit=IMPL_PAGE_SIZE)
    division_code = division.code if division else ""
    return render(
        request,
        "console/item_detail.html",
        {
            "title": item.name,
            "section": "items",
            "item": item,
            "themes": list(item.themes.all()),
            "fees": [(fee, present.yuan(fee.amount_fen)) for fee in item.fees.all()],
            "service_objects": present.label_list(codes.SERVICE_OBJECTS, item.service_objects),
            "levels": present.label_list(codes.LEVELS, item.levels),
            "impls": impls.items,
            "impl_filter": impl_filter,
            "impl_first_url": _query({"division": division_code}) if cursor else None,
            "impl_next_url": _query({"division": division_code, "impl_cursor": impls.next_cursor}) if impls.next_cursor else None,
            "history": present.event_views(queries.item_history(item)),
            "impl_history": present.event_views(queries.item_implementations_history(user, item)),
            "history_limit": queries.HISTORY_LIMIT,
            "can_write": is_operator(user),
            "status_form": status_form or f.StatusForm(),
            "status_error": status_error,
        },
        status=status,
    )


@operator_view
@require_POST
def item_status(request: HttpRequest, code: str) -> HttpResponse:
    item = queries.item_get_for(request.user, code)
    if item is None:
        return not_found(request, f"没有找到事项“{code}”。")
    form = f.StatusForm(request.POST)
    if not form.is_valid():
        return _render_item(request, item, status_form=form, status=422)
    new = form.cleaned_data["status"]
    try:
        catalog.base_item_set_status(actor=request.user, code=code, status=new, reason=form.cleaned_data["reason"])
    except DomainError as exc:
        return _render_item(request, item, status_form=form, status_error=exc, status=exc.status)
    messages.success(request, "事项已发布。" if new == Status.PUBLISHED else "事项已撤回，群众将看不到该事项。")
    return redirect("console:item", code=code)


@operator_view
@require_http_methods(["GET", "POST"])
def item_new(request: HttpRequest) -> HttpResponse:
    return _item_form(request, item=None)


@operator_view
@require_http_methods(["GET", "POST"])
def item_edit(request: HttpRequest, code: str) -> HttpResponse:
    item = queries.item_get_for(request.user, code)
    if item is None:
        return not_found(request, f"没有找到事项“{code}”。")
    return _item_form(request, item=item)


def _item_form(request: HttpRequest, *, item: BaseItem | None) -> HttpResponse:
    editing = item is not None
    initial: dict[str, Any] = {}
    nested_initial = None
    if item is not None:
        snapshot = catalog.item_snapshot(item)
        initial = {**{key: snapshot[key] for key in f.ITEM_KEYS}, "version": item.version}
        nested_initial = {prefix: snapshot[prefix] for prefix, *_rest in f.NESTED}
    themes = _theme_choices()
    if request.method == "GET":
        form = f.ItemForm(initial=initial, editing=editing, theme_choices=themes)
        return _render_item_form(request, item, form, f.nested_formsets(initial=nested_initial))

    data = request.POST
    add = data.get("add", "")
    if add in {prefix for prefix, *_rest in f.NESTED}:
        data = f.with_added_row(data, add)
        form = f.ItemForm(data, initial=initial, editing=editing, theme_choices=themes)
        formsets = f.nested_formsets(data, initial=nested_initial)
        form.is_valid()
        for _title, formset in formsets:
            formset.is_valid()
        _clear_errors(form, *(fs for _t, fs in formsets))
        added = dict(zip([p for p, *_r in f.NESTED], [fs for _t, fs in formsets], strict=True))[add].forms[-1]
        added.fields[next(iter(added.fields))].widget.attrs["autofocus"] = True
        return _render_item_form(request, item, form, formsets)

    form = f.ItemForm(data, initial=initial, editing=editing, theme_choices=themes)
    formsets = f.nested_formsets(data, initial=nested_initial)
    # Validate every part (no short-circuit) so all errors show at once.
    results = [form.is_valid(), *(formset.is_valid() for _title, formset in formsets)]
    valid = all(results)
    if valid and not editing and queries.item_get_for(request.user, form.cleaned_data["code"]) is not None:
        form.add_error("code", f"编码为“{form.cleaned_data['code']}”的事项已存在，请打开该事项修改。")
        valid = False
    if not valid:
        return _render_item_form(request, item, form, formsets, status=422)

    payload = {**form.item_data(), **f.nested_data(formsets)}
    payload["code"] = item.code if item is not None else form.cleaned_data["code"]
    payload["status"] = item.status if item is not None else Status.DRAFT
    # On create, version 0 turns a same-code item saved meanwhile into a conflict instead of an overwrite.
    expected = form.cleaned_data["version"] if item is not None else 0
    try:
        saved = catalog.base_item_save(actor=request.user, data=payload, expected_version=expected, reason=form.cleaned_data["reason"])
    except Conflict as exc:
        last = queries.item_last_change(payload["code"])
        return _render_item_form(
            request, item, form, formsets, error=exc, conflict=present.event_view(last) if last else None, status=exc.status
        )
    except DomainError as exc:
        f.attach_item_errors(form, formsets, exc.details if isinstance(exc.details, list) else [])
        return _render_item_form(request, item, form, formsets, error=exc, status=exc.status)
    if item is None:
        messages.success(request, f"事项“{saved.name}”已新建为草稿。补全申请材料和办理流程后即可发布。")
    elif saved.version == expected:
        messages.info(request, "内容没有变化，未生成新版本。")
    else:
        messages.success(request, f"已保存，当前为第 {saved.version} 版。")
    return redirect("console:item", code=saved.code)


def _render_item_form(
    request: HttpRequest,
    item: BaseItem | None,
    form: f.ItemForm,
    formsets: list[tuple[str, Any]],
    *,
    error: DomainError | None = None,
    conflict: Any = None,
    status: int = 200,
) -> HttpResponse:
    prefixes = [prefix for prefix, *_rest in f.NESTED]
    return render(
        request,
        "console/item_form.html",
        {
            "title": f"修改事项：{item.name}" if item else "新建事项",
            "section": "items",
            "item": item,
            "form": form,
            "formsets": [(prefix, title, formset) for prefix, (title, formset) in zip(prefixes, formsets, strict=True)],
            "formset_list": [formset for _title, formset in formsets],
            "formset_invalid": any(formset.is_bound and formset.total_error_count() for _title, formset in formsets),
            "error": error,
            "error_details": _details(error),
            "conflict": conflict,
        },
        status=status,
    )


# --- implementations -----------------------------------------------------------------------------


@console_view
@require_GET
def implementation(request: HttpRequest, code: str) -> HttpResponse:
    impl = queries.implementation_get_for(request.user, code)
    if impl is None:
        return not_found(request, f"没有找到实施事项“{code}”，或该实施事项不属于您的部门。")
    form = None
    if is_operator(request.user):
        form = f.ImplementationForm(initial={**catalog.impl_snapshot(impl), "version": impl.version}, editing=True)
    return _render_implementation(request, impl, form=form)


def _render_implementation(
    request: HttpRequest,
    impl: Implementation,
    *,
    form: Any = None,
    error: DomainError | None = None,
    conflict: Any = None,
    status_form: Any = None,
    status_error: DomainError | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "console/implementation.html",
        {
            "title": f"{impl.base.name}（{impl.department.name}）",
            "section": "items",
            "impl": impl,
            "form": form,
            "facts": present.implementation_facts(impl),
            "error": error,
            "error_details": _details(error),
            "conflict": conflict,
            "status_form": status_form or f.StatusForm(),
            "status_error": status_error,
            "history": present.event_views(queries.implementation_history(impl)),
            "history_limit": queries.HISTORY_LIMIT,
            "can_write": is_operator(request.user),
        },
        status=status,
    )


@operator_view
@require_POST
def implementation_save(request: HttpRequest, code: str) -> HttpResponse:
    impl = queries.implementation_get_for(request.user, code)
    if impl is None:
        return not_found(request, f"没有找到实施事项“{code}”。")
    form = f.ImplementationForm(request.POST, initial=catalog.impl_snapshot(impl), editing=True)
    if not form.is_valid():
        return _render_implementation(request, impl, form=form, status=422)
    expected = form.cleaned_data["version"]
    data = {**form.implementation_data(impl.base.code), "status": impl.status}
    try:
        saved = catalog.implementation_save(actor=request.user, data=data, expected_version=expected, reason=form.cleaned_data["reason"])
    except Conflict as exc:
        last = queries.implementation_last_change(code)
        return _render_implementation(
            request, impl, form=form, error=exc, conflict=present.event_view(last) if last else None, status=exc.status
        )
    except DomainError as exc:
        _attach_all(form, exc)
        return _render_implementation(request, impl, form=form, error=exc, status=exc.status)
    if saved.version == expected:
        messages.info(request, "内容没有变化，未生成新版本。")
    else:
        messages.success(request, f"已保存，当前为第 {saved.version} 版。")
    return redirect("console:implementation", code=code)


def _attach_all(form: Any, exc: DomainError) -> None:
    for message in _details(exc):
        f.attach_error(form, message)


@operator_view
@require_POST
def implementation_status(request: HttpRequest, code: str) -> HttpResponse:
    impl = queries.implementation_get_for(request.user, code)
    if impl is None:
        return not_found(request, f"没有找到实施事项“{code}”。")
    form = f.StatusForm(request.POST)
    edit_form = f.ImplementationForm(initial={**catalog.impl_snapshot(impl), "version": impl.version}, editing=True)
    if not form.is_valid():
        return _render_implementation(request, impl, form=edit_form, status_form=form, status=422)
    new = form.cleaned_data["status"]
    try:
        catalog.implementation_set_status(actor=request.user, code=code, status=new, reason=form.cleaned_data["reason"])
    except DomainError as exc:
        return _render_implementation(request, impl, form=edit_form, status_form=form, status_error=exc, status=exc.status)
    messages.success(request, "实施事项已发布。" if new == Status.PUBLISHED else "实施事项已撤回，群众将看不到该办事指南。")
    return redirect("console:implementation", code=code)


@operator_view
@require_http_methods(["GET", "POST"])
def implementation_new(request: HttpRequest, code: str) -> HttpResponse:
    item = queries.item_get_for(request.user, code)
    if item is None:
        return not_found(request, f"没有找到事项“{code}”。")
    lookup = f.DepartmentLookupForm(request.GET if "dq" in request.GET else None)
    found = queries.departments_matching(lookup.cleaned_data["dq"]) if lookup.is_bound and lookup.is_valid() else []
    picked = queries.department_get(request.GET.get("department", "").strip().upper()) if request.GET.get("department") else None
    initial: dict[str, Any] = {"department": picked.credit_code, "level": picked.division.level} if picked else {}
    if request.method == "GET":
        form = f.ImplementationForm(initial=initial, editing=False)
        return _render_implementation_new(request, item, form, lookup=lookup, found=found, picked=picked)

    form = f.ImplementationForm(request.POST, initial=initial, editing=False)
    valid = form.is_valid()
    if valid and queries.implementation_exists(item, form.cleaned_data["department"], form.cleaned_data["level"]):
        form.add_error("department", "该部门在此层级已有这一事项的实施清单，请打开它修改。")
        valid = False
    if not valid:
        return _render_implementation_new(request, item, form, lookup=lookup, found=found, picked=picked, status=422)
    data = {**form.implementation_data(item.code), "status": Status.DRAFT}
    try:
        impl = catalog.implementation_save(actor=request.user, data=data, expected_version=0, reason=form.cleaned_data["reason"])
    except DomainError as exc:
        _attach_all(form, exc)
        return _render_implementation_new(request, item, form, lookup=lookup, found=found, picked=picked, error=exc, status=exc.status)
    messages.success(request, f"已为{impl.department.name}新建实施事项（草稿）。")
    return redirect("console:implementation", code=impl.code)


def _render_implementation_new(
    request: HttpRequest,
    item: BaseItem,
    form: f.ImplementationForm,
    *,
    lookup: Any,
    found: list[Any],
    picked: Any,
    error: DomainError | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "console/implementation_new.html",
        {
            "title": f"新建实施事项：{item.name}",
            "section": "items",
            "item": item,
            "form": form,
            "lookup": lookup,
            "found": found,
            "picked": picked,
            "error": error,
            "error_details": _details(error),
        },
        status=status,
    )
