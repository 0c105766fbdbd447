"""一件事一次办 in the portal: the bundles of this hall, and one application for a bundle (one
merged form, one deduplicated set of materials, one submission), on one page without JavaScript."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from tongban.cases import bundles as bundle_services
from tongban.cases import materials as case_materials
from tongban.cases.forms import PREFILLS, prefill
from tongban.catalog import selectors as catalog
from tongban.catalog.models import Bundle
from tongban.common.errors import DomainError, ValidationFailed
from tongban.identity.models import Account
from tongban.web.context import current_hall, visitor
from tongban.web.portal.account import citizen_required
from tongban.web.portal.files import limit_uploads


@require_GET
def bundle_list(request: HttpRequest) -> HttpResponse:
    bundles = list(Bundle.objects.filter(status="published").prefetch_related("items__item").order_by("audience", "code"))
    return render(request, "portal/bundles.html", {"bundles": bundles})


def _plan(request: HttpRequest, bundle: Bundle, include: set[str]) -> bundle_services.BundlePlan:
    hall = current_hall(request)
    division = hall.division if hall is not None else None

    def implementation_for(item: Any) -> Any:
        if division is None:
            return None
        found = catalog.resolve_for_hall(item, division)
        return found.direct or (found.choices[0] if found.choices else None)

    return bundle_services.bundle_plan(bundle=bundle, implementation_for=implementation_for, include_optional=include)


def _fields(plan: bundle_services.BundlePlan, data: dict[str, Any], locked: dict[str, str]) -> list[dict[str, Any]]:
    rows = []
    for name, spec in plan.fields.items():
        kind = spec.get("type")
        rows.append(
            {
                "name": name,
                "label": str(spec.get("title") or name),
                "widget": "checkbox" if kind == "boolean" else "select" if "enum" in spec else "number" if kind == "integer" else "text",
                "options": [str(o) for o in spec.get("enum", [])],
                "value": locked.get(name, data.get(name, "")),
                "locked": name in locked,
                "required": name in plan.required,
                "maxlength": spec.get("maxLength", 0),
            }
        )
    return rows


@csrf_exempt  # checked below, once the per-file size limit is in place
@never_cache
@citizen_required
@require_http_methods(["GET", "POST"])
def bundle_apply(request: HttpRequest, code: str) -> HttpResponse:
    if request.method == "POST":
        limit_uploads(request)
    return _bundle_apply(request, code)


@csrf_protect
def _bundle_apply(request: HttpRequest, code: str) -> HttpResponse:
    bundle = Bundle.objects.filter(code=code, status="published").first()
    me: Account = visitor(request).citizen  # type: ignore[assignment]
    if bundle is None:
        return render(request, "portal/error.html", {"title": "没有这个“一件事”", "message": "请从“一件事一次办”列表中选择。"}, status=404)
    source = request.POST if request.method == "POST" else request.GET
    include = {c for c in source.getlist("include") if c}
    plan = _plan(request, bundle, include)
    locked: dict[str, str] = {}
    for _entry, impl in plan.parts:
        form = bundle_services.form_of(impl)
        if form is not None:
            locked.update(prefill(form, me))
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if request.method == "POST" and request.POST.get("go") == "submit":
        data = {name: request.POST.get(name, "") for name in plan.fields if name not in locked}
        for name, spec in plan.fields.items():
            if spec.get("type") == "boolean" and name not in locked:
                data[name] = request.POST.get(name) == "1"
        uploads = {m.name: request.FILES.get(f"file-{m.pk}") for m in plan.materials}
        too_large = getattr(request, "material_too_large", set())
        if too_large:
            errors["materials"] = case_materials.too_large_text()
        else:
            try:
                application = bundle_services.bundle_submit(
                    applicant=me,
                    plan=plan,
                    data=data,
                    uploads={k: v for k, v in uploads.items() if v is not None},
                    query_password=request.POST.get("query_password", ""),
                    commitment=request.POST.get("commitment") == "1",
                )
            except ValidationFailed as exc:
                named = exc.details.get("fields") if isinstance(exc.details, dict) else None
                errors = dict(named) if named else {"form": exc.message}
            except DomainError as exc:
                errors = {"form": exc.message}
            else:
                first = application.cases.exclude(code=None).order_by("id").first()
                target = reverse("portal:my_case", args=[first.public_id]) if first else reverse("portal:my_cases")
                return HttpResponseRedirect(target)
    return render(
        request,
        "portal/bundle_apply.html",
        {
            "bundle": bundle,
            "plan": plan,
            "include": include,
            "fields": _fields(plan, data, locked),
            "materials": plan.materials,
            "upload_needed": {m.pk for m in plan.materials if bundle_services.needs_upload(m)},
            "limits": case_materials.limits_text(),
            "prefill_labels": PREFILLS,
            "errors": errors,
        },
        status=422 if errors else 200,
    )
