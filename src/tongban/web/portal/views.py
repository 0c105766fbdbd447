"""Citizen and enterprise pages. Thin: read through selectors, render; no business rules here."""

from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth import logout
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tongban.cases.forms import form_current
from tongban.catalog import codes
from tongban.catalog import selectors as catalog
from tongban.common.errors import ValidationFailed
from tongban.common.ratelimit import rate_limited
from tongban.org import calendar as workdays
from tongban.org import selectors as org
from tongban.search import selectors as finder  # not `search`: the view below has that name
from tongban.web.context import CARE_COOKIE, COOKIE_AGE, HALL_COOKIE, KIOSK_COOKIE, current_hall


def _hall_division(request: HttpRequest):  # type: ignore[no-untyped-def]
    hall = current_hall(request)
    if hall is None:
        raise Http404("平台尚未初始化")
    return hall, hall.division


def _safe_next(request: HttpRequest, fallback: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or fallback
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return fallback


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    _hall, division = _hall_division(request)
    care = request.COOKIES.get(CARE_COOKIE) == "1"
    popular = catalog.popular_items(division, limit=8 if care else 12)
    popular_direct = catalog.resolve_many(popular, division)
    themes = catalog.themes_by_audience()
    return render(
        request,
        "portal/home.html",
        {
            "popular": popular,
            "popular_direct": popular_direct,
            # (item, direct implementation or None) pairs, so the template links each straight to its guide.
            "popular_links": [(item, popular_direct.get(item.pk)) for item in popular],
            "person_themes": themes["person"],
            "enterprise_themes": themes["enterprise"],
            "zones": catalog.zones_published(),
            "child_halls": org.halls_under(division),
        },
    )


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    _hall, division = _hall_division(request)
    raw = request.GET.get("q", "")
    filters = finder.Filters(
        department=request.GET.get("department") or None,
        theme=request.GET.get("theme") or None,
        service_object=_int_or_none(request.GET.get("object")),
        level=_int_or_none(request.GET.get("level")),
    )
    context: dict[str, object] = {
        "q": raw[: settings.SEARCH_MAX_QUERY_CHARS * 2],
        "filters": filters,
        "object_choices": [(1, "个人"), (2, "企业法人")] + [(k, v) for k, v in codes.SERVICE_OBJECTS.items() if k not in (1, 2)],
        "level_choices": [(k, v) for k, v in codes.LEVELS.items() if k in (2, 3, 4, 5)],
        "theme_choices": [t for group in catalog.themes_by_audience().values() for t in group],
        "department_choices": list(org.departments_in(division)),
    }
    status = 200
    if rate_limited(request, "search", settings.RATE_LIMIT_SEARCH_PER_MINUTE):
        context["error"] = "搜索太频繁了，请稍等一分钟再试。"
        status = 429
    elif raw.strip() == "" and "q" not in request.GET:
        context["result"] = None
    else:
        try:
            context["result"] = finder.search_items(raw, division=division, filters=filters, max_chars=settings.SEARCH_MAX_QUERY_CHARS)
        except ValidationFailed as exc:
            context["error"] = exc.message
            context["error_field"] = True  # the query itself needs fixing: the page marks the field
            status = 400
    return render(request, "portal/search.html", context, status=status)


def _int_or_none(value: str | None) -> int | None:
    if value and value.isdigit() and len(value) < 4:
        return int(value)
    return None


@require_GET
def services(request: HttpRequest) -> HttpResponse:
    """办事: every theme for persons and enterprises, and the halls below this one."""
    _hall, division = _hall_division(request)
    person = [(t, catalog.items_for_theme(t, division)) for t in catalog.themes("person")]
    enterprise = [(t, catalog.items_for_theme(t, division)) for t in catalog.themes("enterprise")]
    return render(request, "portal/services.html", {"person": person, "enterprise": enterprise, "zones": catalog.zones_published()})


@require_GET
def service(request: HttpRequest, code: str) -> HttpResponse:
    """A base item from this hall: straight to its guide, or a choice of the regions that offer it."""
    _hall, division = _hall_division(request)
    item = catalog.base_item_get_published(code)
    if item is None:
        raise Http404("事项不存在")
    resolution = catalog.resolve_for_hall(item, division)
    if resolution.direct is not None:
        return redirect("portal:guide", code=resolution.direct.code)
    return render(request, "portal/service.html", {"item": item, "choices": resolution.choices})


@require_GET
def guide(request: HttpRequest, code: str) -> HttpResponse:
    impl = catalog.implementation_get_published(code)
    if impl is None:
        raise Http404("事项不存在")
    item = impl.base
    materials = list(item.materials.all())
    phone = _first_phone(impl.consult_channel) or _first_phone(impl.department.phone)
    # Online here when the implementation has an application form; else a department's own system.
    apply_href = reverse("portal:apply", kwargs={"code": impl.code}) if form_current(impl) is not None else impl.apply_url
    return render(
        request,
        "portal/guide.html",
        {
            "impl": impl,
            "apply_href": apply_href,
            "item": item,
            "materials": materials,
            "fetchable_count": sum(1 for m in materials if m.license_type or m.source in ("government", "shared")),
            "steps": list(item.steps.all()),
            "fees": list(item.fees.all()),
            "consult_phone": phone,
            "consult_tel": phone.replace("-", "") if phone else "",
            "promised_by": _promised_by(impl),
            "faqs": list(item.faqs.all()),
            "themes": list(item.themes.all()),
            "labels": {
                "item_type": codes.ITEM_TYPES.get(item.item_type, ""),
                "case_type": codes.CASE_TYPES.get(impl.case_type, ""),
                "legal_unit": codes.LIMIT_UNITS.get(impl.legal_limit_unit, ""),
                "promised_unit": codes.LIMIT_UNITS.get(impl.promised_limit_unit, ""),
                "level": codes.LEVELS.get(impl.level, ""),
                "power_source": codes.POWER_SOURCES.get(impl.power_source, ""),
                "body_nature": codes.BODY_NATURES.get(impl.body_nature, ""),
                "objects": [codes.SERVICE_OBJECTS.get(int(o), "") for o in item.service_objects],
                "depth": [codes.ONLINE_DEPTHS.get(int(d), "") for d in impl.online_depth],
                "forms": [codes.HANDLING_FORMS.get(f, f) for f in impl.handling_forms],
            },
            "material_labels": {
                "kind": codes.MATERIAL_KINDS,
                "form": codes.MATERIAL_FORMS,
                "need": codes.MATERIAL_NEED,
                "source": codes.MATERIAL_SOURCES,
            },
        },
    )


# A telephone number people can tap: the office's own (area code + number, or a mobile), else the 12345 hotline.
_PHONE = re.compile(r"(?<!\d)(0\d{2,3}-?\d{7,8}|1[3-9]\d{9})(?!\d)")
_HOTLINE = re.compile(r"(?<!\d)12345(?!\d)")


def _first_phone(text: str) -> str:
    found = _PHONE.search(text or "")
    if found:
        return found.group(1)
    return "12345" if _HOTLINE.search(text or "") else ""


def _promised_by(impl):  # type: ignore[no-untyped-def]
    """The date a case accepted today is promised by, when the limit is in working days and the calendar knows them."""
    if impl.promised_limit <= 0 or impl.promised_limit_unit != 1:
        return None
    try:
        return workdays.estimate_calendar().add_working_days(timezone.localdate(), impl.promised_limit)
    except workdays.CalendarUnknown:
        return None


@require_GET
def theme(request: HttpRequest, code: str) -> HttpResponse:
    _hall, division = _hall_division(request)
    found = catalog.theme_get(code)
    if found is None:
        raise Http404("主题不存在")
    items = catalog.items_for_theme(found, division)
    return render(request, "portal/list.html", _list_context(found.name, found.description, items, division, theme=found))


@require_GET
def zone(request: HttpRequest, code: str) -> HttpResponse:
    _hall, division = _hall_division(request)
    found = catalog.zone_get_published(code)
    if found is None:
        raise Http404("专区不存在")
    items = catalog.zone_items(found, division)
    return render(request, "portal/list.html", _list_context(found.name, found.description, items, division, zone=found))


def _list_context(title, description, items, division, **extra):  # type: ignore[no-untyped-def]
    direct = catalog.resolve_many(items, division)
    return {
        "title": title,
        "description": description,
        "items": items,
        "direct": direct,
        "entries": [(item, direct.get(item.pk)) for item in items],
        **extra,
    }


@require_http_methods(["GET", "POST"])
def halls(request: HttpRequest) -> HttpResponse:
    """Branch-hall switcher: province → city → county; the choice is remembered on this device."""
    if request.method == "POST":
        code = request.POST.get("hall", "")
        chosen = org.hall_get(code) if code.isdigit() else None
        if chosen is None:
            return render(request, "portal/halls.html", _halls_context(request, None, "请选择一个地区。"), status=400)
        response = HttpResponseRedirect(_safe_next(request))
        response.set_cookie(
            HALL_COOKIE, chosen.division.code, max_age=COOKIE_AGE, samesite="Lax", httponly=True, secure=request.is_secure()
        )
        return response
    parent_code = request.GET.get("parent", "")
    parent = org.hall_get(parent_code) if parent_code.isdigit() else None
    return render(request, "portal/halls.html", _halls_context(request, parent, None))


def _halls_context(request: HttpRequest, parent, error):  # type: ignore[no-untyped-def]
    main = org.main_hall()
    base = parent or main
    return {
        "main_hall": main,
        "parent": parent,
        "options": list(org.halls_under(base.division)) if base else [],
        "error": error,
        "next": _safe_next(request),
    }


@require_POST
def mode(request: HttpRequest, mode: str) -> HttpResponse:
    """Switch care mode (长辈模式) or kiosk mode on or off for this device."""
    cookies = {"care": CARE_COOKIE, "kiosk": KIOSK_COOKIE}
    if mode == "kiosk-reset":
        # A hall terminal's session ends (idle or 结束使用): sign the last person out, forget
        # their choices, stay a kiosk, start again from the home page.
        logout(request)
        response = HttpResponseRedirect("/")
        for cookie in (CARE_COOKIE, HALL_COOKIE):
            response.delete_cookie(cookie, samesite="Lax")
        return response
    if mode not in cookies:
        raise Http404("未知模式")
    response = HttpResponseRedirect(_safe_next(request))
    if request.POST.get("on") == "1":
        response.set_cookie(cookies[mode], "1", max_age=COOKIE_AGE, samesite="Lax", httponly=True, secure=request.is_secure())
    else:
        response.delete_cookie(cookies[mode], samesite="Lax")
    return response
