"""Catalogue read API: divisions, departments, items (implementations) and one item by code."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Schema

from tongban.api.schemas import ErrorOut
from tongban.catalog import codes
from tongban.catalog import selectors as catalog
from tongban.common.errors import NotFound
from tongban.common.pagination import paginate_by_key
from tongban.org.models import Department, Division

router = Router(tags=["事项目录"])

PUBLIC = True  # catalogue data is public information (政务公开); listed in tests' public-route register


class DivisionOut(Schema):
    code: str
    name: str
    level: int
    parent: str | None


class DepartmentOut(Schema):
    credit_code: str
    name: str
    kind: str
    division: str


class DepartmentPage(Schema):
    items: list[DepartmentOut]
    next_cursor: str | None


class ImplementationSummary(Schema):
    code: str
    base_code: str
    name: str
    item_type: str
    department: str
    department_code: str
    division: str
    level: int
    promised_limit: int
    promised_limit_unit: str
    visits: int
    online: bool


class ItemPage(Schema):
    items: list[ImplementationSummary]
    next_cursor: str | None


class MaterialOut(Schema):
    name: str
    kind: str
    form: str
    need: str
    condition: str
    paper_copies: int
    source: str
    source_body: str
    license_type: str
    notes: str


class StepOut(Schema):
    name: str
    actor: str
    description: str
    time_limit: str


class FeeOut(Schema):
    name: str
    standard: str
    amount_fen: int | None
    basis: str
    reducible: bool


class FaqOut(Schema):
    question: str
    answer: str


class Limit(Schema):
    value: int
    unit: str
    note: str


class ItemDetail(Schema):
    code: str
    base_code: str
    name: str
    item_type: str
    item_type_label: str
    summary: str
    legal_basis: str
    conditions: str
    service_objects: list[int]
    aliases: list[str]
    themes: list[str]
    department: DepartmentOut
    division: DivisionOut
    level: int
    power_source: int
    body_nature: int
    case_type: int
    legal_limit: Limit
    promised_limit: Limit
    handling_forms: list[str]
    online_depth: list[int]
    visits: int
    fee_required: bool
    fees: list[FeeOut]
    materials: list[MaterialOut]
    steps: list[StepOut]
    faqs: list[FaqOut]
    place: str
    hours: str
    consult_channel: str
    complaint_channel: str
    special_procedures: str
    handling_area: str
    result_name: str
    online_apply_url: str | None
    version: int


def _division_out(d: Division) -> DivisionOut:
    return DivisionOut(code=d.code, name=d.name, level=d.level, parent=d.parent.code if d.parent_id and d.parent else None)


def _department_out(d: Department) -> DepartmentOut:
    return DepartmentOut(credit_code=d.credit_code, name=d.name, kind=d.kind, division=d.division.code)


class DivisionFilter(Schema):
    parent: str | None = None
    level: int | None = None


@router.get("/divisions", response=list[DivisionOut], summary="行政区划列表", operation_id="list_divisions")
def list_divisions(request: HttpRequest, filters: Query[DivisionFilter]) -> list[DivisionOut]:
    qs = Division.objects.select_related("parent").order_by("code")
    if filters.parent:
        qs = qs.filter(parent__code=filters.parent)
    elif filters.level is None:
        qs = qs.filter(level__lte=Division.Level.COUNTY)
    if filters.level is not None:
        qs = qs.filter(level=filters.level)
    return [_division_out(d) for d in qs[:2000]]


@router.get("/divisions/{code}", response={200: DivisionOut, 404: ErrorOut}, summary="单个行政区划", operation_id="get_division")
def get_division(request: HttpRequest, code: str) -> DivisionOut:
    division = Division.objects.select_related("parent").filter(code=code).first()
    if division is None:
        raise NotFound(f"行政区划“{code[:12]}”不存在。")
    return _division_out(division)


class PageQuery(Schema):
    cursor: str | None = None
    limit: int = 50


class DepartmentFilter(PageQuery):
    division: str | None = None
    kind: str | None = None


def _limit(value: int) -> int:
    return max(1, min(value, 200))


@router.get("/departments", response={200: DepartmentPage, 400: ErrorOut}, summary="部门列表（游标分页）", operation_id="list_departments")
def list_departments(request: HttpRequest, filters: Query[DepartmentFilter]) -> DepartmentPage:
    qs = Department.objects.select_related("division")
    if filters.division:
        qs = qs.filter(division__code=filters.division)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    page = paginate_by_key(qs, key="credit_code", cursor=filters.cursor, limit=_limit(filters.limit))
    return DepartmentPage(items=[_department_out(d) for d in page.items], next_cursor=page.next_cursor)


class ItemFilter(PageQuery):
    division: str | None = None
    department: str | None = None
    theme: str | None = None
    service_object: int | None = None
    level: int | None = None
    item_type: str | None = None


@router.get("/items", response={200: ItemPage, 400: ErrorOut}, summary="已发布实施事项列表（游标分页）", operation_id="list_items")
def list_items(request: HttpRequest, filters: Query[ItemFilter]) -> ItemPage:
    qs = catalog.implementations_filtered(
        division=filters.division,
        department=filters.department,
        theme=filters.theme,
        service_object=filters.service_object,
        level=filters.level,
        item_type=filters.item_type,
    )
    page = paginate_by_key(qs, key="code", cursor=filters.cursor, limit=_limit(filters.limit))
    return ItemPage(
        items=[
            ImplementationSummary(
                code=i.code,
                base_code=i.base.code,
                name=i.base.name,
                item_type=i.base.item_type,
                department=i.department.name,
                department_code=i.department.credit_code,
                division=i.division.code,
                level=i.level,
                promised_limit=i.promised_limit,
                promised_limit_unit=codes.LIMIT_UNITS.get(i.promised_limit_unit, ""),
                visits=i.visits,
                online=i.is_online,
            )
            for i in page.items
        ],
        next_cursor=page.next_cursor,
    )


@router.get("/items/{code}", response={200: ItemDetail, 404: ErrorOut}, summary="单个实施事项的完整办事指南", operation_id="get_item")
def get_item(request: HttpRequest, code: str) -> ItemDetail:
    impl = catalog.implementation_get_published(code)
    if impl is None:
        raise NotFound(f"事项“{code[:31]}”不存在或未发布。")
    item = impl.base
    return ItemDetail(
        code=impl.code,
        base_code=item.code,
        name=item.name,
        item_type=item.item_type,
        item_type_label=item.item_type_label,
        summary=item.summary,
        legal_basis=item.legal_basis,
        conditions=item.conditions,
        service_objects=[int(o) for o in item.service_objects],
        aliases=list(item.aliases),
        themes=[t.code for t in item.themes.all()],
        department=_department_out(impl.department),
        division=_division_out(impl.division),
        level=impl.level,
        power_source=impl.power_source,
        body_nature=impl.body_nature,
        case_type=impl.case_type,
        legal_limit=Limit(value=impl.legal_limit, unit=codes.LIMIT_UNITS.get(impl.legal_limit_unit, ""), note=impl.legal_limit_note),
        promised_limit=Limit(
            value=impl.promised_limit, unit=codes.LIMIT_UNITS.get(impl.promised_limit_unit, ""), note=impl.promised_limit_note
        ),
        handling_forms=list(impl.handling_forms),
        online_depth=[int(d) for d in impl.online_depth],
        visits=impl.visits,
        fee_required=impl.fee_required,
        fees=[
            FeeOut(name=f.name, standard=f.standard, amount_fen=f.amount_fen, basis=f.basis, reducible=f.reducible) for f in item.fees.all()
        ],
        materials=[
            MaterialOut(
                name=m.name,
                kind=m.kind,
                form=m.form,
                need=m.need,
                condition=m.condition,
                paper_copies=m.paper_copies,
                source=m.source,
                source_body=m.source_body,
                license_type=m.license_type,
                notes=m.notes,
            )
            for m in item.materials.all()
        ],
        steps=[StepOut(name=s.name, actor=s.actor, description=s.description, time_limit=s.time_limit) for s in item.steps.all()],
        faqs=[FaqOut(question=f.question, answer=f.answer) for f in item.faqs.all()],
        place=impl.place,
        hours=impl.hours,
        consult_channel=impl.consult_channel,
        complaint_channel=impl.complaint_channel,
        special_procedures=impl.special_procedures,
        handling_area=impl.handling_area,
        result_name=item.result_name,
        online_apply_url=impl.apply_url or None,
        version=impl.version,
    )
