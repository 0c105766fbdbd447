"""Writes of the catalogue: save, publish and withdraw items and implementations, zones, synonyms.

Every write runs in one transaction with its audit row (before and after) and a change-feed row
that the search index follows. Edits carry the version the editor saw: two operators saving the
same item at once cannot silently overwrite each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from tongban.catalog import schema
from tongban.catalog.models import (
    BaseItem,
    Bundle,
    BundleItem,
    ChangeFeed,
    Faq,
    Fee,
    Implementation,
    Material,
    ProcessStep,
    Status,
    Synonym,
    Theme,
    Zone,
    ZoneEntry,
)
from tongban.common.audit import audit_record, diff
from tongban.common.codes import implementation_code, is_valid_item_base_code
from tongban.common.errors import Conflict, NotFound, ValidationFailed
from tongban.org.models import Department

_NESTED = (
    ("materials", Material, schema.MATERIAL_FIELDS, "申请材料"),
    ("steps", ProcessStep, schema.STEP_FIELDS, "办理流程"),
    ("fees", Fee, schema.FEE_FIELDS, "收费"),
    ("faqs", Faq, schema.FAQ_FIELDS, "常见问题"),
)
_ITEM_SCALARS = [f.key for f in schema.ITEM_FIELDS if f.key not in ("themes", "status")]
_IMPL_SCALARS = [f.key for f in schema.IMPLEMENTATION_FIELDS if f.key not in ("base_code", "department", "status")]


# --- snapshots: the exchange format, the audit before/after and the export are the same dict ----


def item_snapshot(item: BaseItem) -> dict[str, Any]:
    data: dict[str, Any] = {key: getattr(item, key) for key in _ITEM_SCALARS}
    data["themes"] = sorted(t.code for t in item.themes.all())
    data["status"] = item.status
    for key, _model, spec, _label in _NESTED:
        data[key] = [{f.key: getattr(row, f.key) for f in spec} for row in getattr(item, key).all()]
    return data


def impl_snapshot(impl: Implementation) -> dict[str, Any]:
    data: dict[str, Any] = {"base_code": impl.base.code, "department": impl.department.credit_code}
    data.update({key: getattr(impl, key) for key in _IMPL_SCALARS})
    data["status"] = impl.status
    return data


def _feed(*, actor: Any, base_code: str) -> None:
    ChangeFeed.objects.create(base_code=base_code, actor=actor if getattr(actor, "pk", None) else None)


# --- validation ----------------------------------------------------------------------------


def clean_item(raw: Any) -> tuple[dict[str, Any], list[str]]:
    data, errors = schema.clean_record(schema.ITEM_FIELDS, raw)
    code = data.get("code") or ""
    if code and not is_valid_item_base_code(code):
        errors.append("“事项基本编码”应为 12 位数字或大写字母。")
    for key, _model, spec, label in _NESTED:
        rows = raw.get(key, []) if isinstance(raw, dict) else []
        if not isinstance(rows, list):
            errors.append(f"“{label}”应为列表。")
            data[key] = []
            continue
        cleaned = []
        for index, row in enumerate(rows, start=1):
            values, row_errors = schema.clean_record(spec, row)
            where = f"工作表“{label}”第 {row['_row']} 行" if isinstance(row, dict) and "_row" in row else f"{label}第 {index} 条"
            errors.extend(f"{where}：{message}" for message in row_errors)
            cleaned.append(values)
        data[key] = cleaned
    return data, errors


def clean_implementation(raw: Any) -> tuple[dict[str, Any], list[str]]:
    data, errors = schema.clean_record(schema.IMPLEMENTATION_FIELDS, raw)
    if data.get("promised_limit") and data.get("legal_limit") is not None:
        same_unit = data.get("promised_limit_unit") == data.get("legal_limit_unit")
        if same_unit and data["legal_limit"] and data["promised_limit"] > data["legal_limit"]:
            errors.append("“承诺办结时限”不能长于“法定办结时限”。")
    if data.get("fee_required") is None:
        data["fee_required"] = False
    return data, errors


def _publishable_item_problems(item: BaseItem) -> list[str]:
    problems = []
    if not item.materials.exists():
        problems.append("缺少申请材料")
    if not item.steps.exists():
        problems.append("缺少办理流程")
    if not item.service_objects:
        problems.append("缺少服务对象")
    return problems


# --- base items ---------------------------------------------------------------------------


def base_item_save(*, actor: Any, data: dict[str, Any], expected_version: int | None = None, reason: str = "") -> BaseItem:
    """Create or update a base item with its materials, steps, fees and FAQ (all replaced)."""
    cleaned, errors = clean_item(data)
    if errors:
        raise ValidationFailed("事项信息有误：" + "；".join(errors), code="invalid_item", details=errors)
    themes = _themes(cleaned["themes"])
    with transaction.atomic():
        item = BaseItem.objects.select_for_update().filter(code=cleaned["code"]).first()
        before = item_snapshot(item) if item else None
        if item is not None and expected_version is not None and item.version != expected_version:
            raise Conflict(
                f"该事项已被他人修改（当前第 {item.version} 版，您编辑的是第 {expected_version} 版）。请核对对方的修改后重新提交。",
                code="stale_version",
            )
        item = _write_item(item, cleaned, themes)
        after = item_snapshot(item)
        if before is not None and before == after:
            return item
        if before is not None:
            item.version += 1
            item.save(update_fields=["version", "updated_at"])
        old, new = diff(before, after)
        audit_record(
            actor=actor,
            action="item.create" if before is None else "item.update",
            object_type="item",
            object_id=item.code,
            before=old or None,
            after=new,
            reason=reason,
        )
        _feed(actor=actor, base_code=item.code)
    return item


def _themes(theme_codes: list[str]) -> list[Theme]:
    themes = list(Theme.objects.filter(code__in=theme_codes))
    missing = sorted(set(theme_codes) - {t.code for t in themes})
    if missing:
        raise ValidationFailed(f"主题编码不存在：{'、'.join(missing)}。", code="unknown_theme")
    return themes


def _write_item(item: BaseItem | None, cleaned: dict[str, Any], themes: list[Theme]) -> BaseItem:
    if item is None:
        item = BaseItem(code=cleaned["code"], status=cleaned.get("status") or Status.DRAFT)
    for key in _ITEM_SCALARS:
        setattr(item, key, cleaned[key])
    item.save()
    item.themes.set(themes)
    for key, model, spec, _label in _NESTED:
        model.objects.filter(item=item).delete()
        rows: list[Any] = [model(item=item, sort=index, **{f.key: row[f.key] for f in spec}) for index, row in enumerate(cleaned[key])]
        model.objects.bulk_create(rows)
    return item


def base_item_set_status(*, actor: Any, code: str, status: str, reason: str = "") -> BaseItem:
    if status not in Status.values:
        raise ValidationFailed("状态无效。", code="invalid_status")
    with transaction.atomic():
        item = BaseItem.objects.select_for_update().filter(code=code).first()
        if item is None:
            raise NotFound(f"事项“{code}”不存在。")
        if item.status == status:
            return item
        if status == Status.PUBLISHED:
            problems = _publishable_item_problems(item)
            if problems:
                raise ValidationFailed(f"办事指南不完整，不能发布：{'、'.join(problems)}。", code="guide_incomplete")
        if status == Status.WITHDRAWN and not reason.strip():
            raise ValidationFailed("撤回事项须填写原因。", code="reason_required")
        before = item.status
        item.status = status
        item.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            action=f"item.{status}",
            object_type="item",
            object_id=code,
            before={"status": before},
            after={"status": status},
            reason=reason,
        )
        _feed(actor=actor, base_code=code)
    return item


# --- implementations ---------------------------------------------------------------------


def _resolve_implementation(cleaned: dict[str, Any]) -> tuple[BaseItem, Department, str]:
    base = BaseItem.objects.filter(code=cleaned["base_code"]).first()
    if base is None:
        raise ValidationFailed(f"基本事项“{cleaned['base_code']}”不存在。", code="unknown_item")
    department = Department.objects.select_related("division").filter(credit_code=cleaned["department"]).first()
    if department is None:
        raise ValidationFailed(f"实施主体“{cleaned['department']}”不存在。", code="unknown_department")
    if department.division.level != cleaned["level"]:
        raise ValidationFailed(
            f"行使层级与实施主体所在区划不符（{department.name}属于{department.division.get_level_display()}）。",
            code="level_mismatch",
        )
    code = implementation_code(department_uscc=department.credit_code, level=cleaned["level"], base_code=base.code)
    return base, department, code


def implementation_save(*, actor: Any, data: dict[str, Any], expected_version: int | None = None, reason: str = "") -> Implementation:
    cleaned, errors = clean_implementation(data)
    if errors:
        raise ValidationFailed("实施事项信息有误：" + "；".join(errors), code="invalid_implementation", details=errors)
    base, department, code = _resolve_implementation(cleaned)
    with transaction.atomic():
        impl = Implementation.objects.select_for_update().select_related("base", "department").filter(code=code).first()
        before = impl_snapshot(impl) if impl else None
        if impl is not None and expected_version is not None and impl.version != expected_version:
            raise Conflict(
                f"该实施事项已被他人修改（当前第 {impl.version} 版，您编辑的是第 {expected_version} 版）。请核对对方的修改后重新提交。",
                code="stale_version",
            )
        if impl is None:
            impl = Implementation(code=code, base=base, department=department, division=department.division)
            impl.status = cleaned.get("status") or Status.DRAFT
            if impl.status == Status.PUBLISHED:
                impl.published_at = timezone.now()
        for key in _IMPL_SCALARS:
            setattr(impl, key, cleaned[key])
        after_preview = {**(before or {}), **{k: cleaned[k] for k in _IMPL_SCALARS}}
        if before is not None and after_preview == before:
            return impl
        if before is not None:
            impl.version += 1
        impl.save()
        old, new = diff(before, impl_snapshot(impl))
        audit_record(
            actor=actor,
            action="implementation.create" if before is None else "implementation.update",
            object_type="implementation",
            object_id=code,
            before=old or None,
            after=new,
            reason=reason,
        )
        _feed(actor=actor, base_code=base.code)
    return impl


def implementation_set_status(*, actor: Any, code: str, status: str, reason: str = "") -> Implementation:
    if status not in Status.values:
        raise ValidationFailed("状态无效。", code="invalid_status")
    with transaction.atomic():
        impl = Implementation.objects.select_for_update().select_related("base").filter(code=code).first()
        if impl is None:
            raise NotFound(f"实施事项“{code}”不存在。")
        if impl.status == status:
            return impl
        if status == Status.PUBLISHED and impl.base.status != Status.PUBLISHED:
            raise ValidationFailed("请先发布对应的基本事项，再发布实施事项。", code="base_not_published")
        if status == Status.WITHDRAWN and not reason.strip():
            raise ValidationFailed("撤回事项须填写原因。", code="reason_required")
        before = impl.status
        impl.status = status
        if status == Status.PUBLISHED:
            impl.published_at = timezone.now()
        impl.save(update_fields=["status", "published_at", "updated_at"])
        audit_record(
            actor=actor,
            action=f"implementation.{status}",
            object_type="implementation",
            object_id=code,
            before={"status": before},
            after={"status": status},
            reason=reason,
        )
        _feed(actor=actor, base_code=impl.base.code)
    return impl


# --- import -----------------------------------------------------------------------------------


@dataclass
class ImportProblem:
    sheet: str
    row: int
    message: str

    def __str__(self) -> str:
        return f"{self.sheet}第 {self.row} 行：{self.message}"


@dataclass
class ImportResult:
    items_created: int
    items_updated: int
    implementations_created: int
    implementations_updated: int


class ImportRefused(ValidationFailed):
    code = "import_refused"

    def __init__(self, problems: list[ImportProblem]) -> None:
        super().__init__(
            f"导入文件有 {len(problems)} 处错误，已整体拒绝，未导入任何数据。请按逐行报告修改后重新导入。",
            details=[{"sheet": p.sheet, "row": p.row, "message": p.message} for p in problems],
        )
        self.problems = problems


def catalog_import(*, actor: Any, payload: Any) -> ImportResult:
    """Validate every record first; if any is wrong, refuse the whole file with a row-by-row report.

    `payload` is the exchange format: {"format": "tongban-catalog/1", "items": [...],
    "implementations": [...]}. Rows are numbered from 1 in the order given (for xlsx, the reader
    passes the spreadsheet row number in "_row").
    """
    problems: list[ImportProblem] = []
    if not isinstance(payload, dict) or payload.get("format") != "tongban-catalog/1":
        raise ImportRefused([ImportProblem("文件", 1, "不是通办事项目录交换格式（format 应为 tongban-catalog/1）。")])
    raw_items = payload.get("items") or []
    raw_impls = payload.get("implementations") or []
    if not isinstance(raw_items, list) or not isinstance(raw_impls, list):
        raise ImportRefused([ImportProblem("文件", 1, "items 和 implementations 应为列表。")])

    items: list[dict[str, Any]] = []
    seen_codes: dict[str, int] = {}
    theme_codes = set(Theme.objects.values_list("code", flat=True))
    for index, raw in enumerate(raw_items, start=1):
        row = raw.get("_row", index) if isinstance(raw, dict) else index
        cleaned, errors = clean_item(raw)
        code = cleaned.get("code")
        if code and code in seen_codes:
            errors.append(f"事项基本编码“{code}”与第 {seen_codes[code]} 行重复。")
        elif code:
            seen_codes[code] = row
        unknown = sorted(set(cleaned.get("themes") or []) - theme_codes)
        if unknown:
            errors.append(f"主题编码不存在：{'、'.join(unknown)}。")
        problems.extend(ImportProblem("事项", row, message) for message in errors)
        items.append(cleaned)

    known_bases = set(BaseItem.objects.values_list("code", flat=True)) | set(seen_codes)
    departments = {d.credit_code: d for d in Department.objects.select_related("division")}
    impls: list[tuple[dict[str, Any], str]] = []
    seen_impl: dict[str, int] = {}
    for index, raw in enumerate(raw_impls, start=1):
        row = raw.get("_row", index) if isinstance(raw, dict) else index
        cleaned, errors = clean_implementation(raw)
        code = ""
        if not errors:
            department = departments.get(cleaned["department"])
            if cleaned["base_code"] not in known_bases:
                errors.append(f"基本事项“{cleaned['base_code']}”不存在，也不在本文件中。")
            if department is None:
                errors.append(f"实施主体“{cleaned['department']}”不存在。")
            elif department.division.level != cleaned["level"]:
                errors.append(f"行使层级与实施主体所在区划不符（{department.name}属于{department.division.get_level_display()}）。")
            if not errors and department is not None:
                code = implementation_code(department_uscc=department.credit_code, level=cleaned["level"], base_code=cleaned["base_code"])
                if code in seen_impl:
                    errors.append(f"与第 {seen_impl[code]} 行是同一实施事项。")
                seen_impl[code] = row
        problems.extend(ImportProblem("实施清单", row, message) for message in errors)
        impls.append((cleaned, code))

    if problems:
        raise ImportRefused(problems)

    created_items = updated_items = created_impls = updated_impls = 0
    with transaction.atomic():
        existing_items = set(BaseItem.objects.filter(code__in=list(seen_codes)).values_list("code", flat=True))
        for cleaned in items:
            base_item_save(actor=actor, data=cleaned, reason="批量导入")
            if cleaned["code"] in existing_items:
                updated_items += 1
            else:
                created_items += 1
        existing_impls = set(Implementation.objects.filter(code__in=list(seen_impl)).values_list("code", flat=True))
        for cleaned, code in impls:
            implementation_save(actor=actor, data=cleaned, reason="批量导入")
            if code in existing_impls:
                updated_impls += 1
            else:
                created_impls += 1
        audit_record(
            actor=actor,
            action="catalog.import",
            object_type="catalog",
            object_id="import",
            after={"items": len(items), "implementations": len(impls)},
        )
    return ImportResult(created_items, updated_items, created_impls, updated_impls)


# --- bulk load (demo, benchmarks) --------------------------------------------------------


def implementations_bulk_create(*, actor: Any, rows: list[dict[str, Any]], batch_size: int = 2000) -> int:
    """Create many new implementations fast (demo and benchmark data): validated like any other,
    one audit row each, one change-feed row per base item. Existing codes are skipped."""
    departments = {d.credit_code: d for d in Department.objects.select_related("division")}
    bases = {b.code: b for b in BaseItem.objects.all()}
    existing = set(Implementation.objects.values_list("code", flat=True))
    objs: list[Implementation] = []
    now = timezone.now()
    for raw in rows:
        cleaned, errors = clean_implementation(raw)
        if errors:
            raise ValidationFailed("实施事项信息有误：" + "；".join(errors), code="invalid_implementation", details=errors)
        department = departments[cleaned["department"]]
        base = bases[cleaned["base_code"]]
        code = implementation_code(department_uscc=department.credit_code, level=cleaned["level"], base_code=base.code)
        if code in existing:
            continue
        existing.add(code)
        impl = Implementation(code=code, base=base, department=department, division=department.division, status=cleaned["status"])
        for key in _IMPL_SCALARS:
            setattr(impl, key, cleaned[key])
        if impl.status == Status.PUBLISHED:
            impl.published_at = now
        objs.append(impl)
    from tongban.common.models import AuditEvent
    from tongban.common.observability import request_id_var

    label = getattr(actor, "username", None) or "system"
    with transaction.atomic():
        Implementation.objects.bulk_create(objs, batch_size=batch_size)
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(
                    actor=actor if getattr(actor, "pk", None) else None,
                    actor_label=label,
                    action="implementation.create",
                    object_type="implementation",
                    object_id=o.code,
                    after={"status": o.status, "department": o.department.credit_code},
                    request_id=request_id_var.get(),
                )
                for o in objs
            ],
            batch_size=batch_size,
        )
        ChangeFeed.objects.bulk_create([ChangeFeed(base_code=code) for code in sorted({o.base.code for o in objs})])
    return len(objs)


# --- themes, zones, synonyms -------------------------------------------------------------


def theme_upsert(*, actor: Any, code: str, name: str, audience: str, description: str = "", icon: str = "", sort: int = 0) -> Theme:
    values = {"name": name, "audience": audience, "description": description, "icon": icon, "sort": sort}
    with transaction.atomic():
        existing = Theme.objects.filter(code=code).first()
        if existing and all(getattr(existing, k) == v for k, v in values.items()):
            return existing
        theme, created = Theme.objects.update_or_create(code=code, defaults=values)
        audit_record(
            actor=actor, action="theme.create" if created else "theme.update", object_type="theme", object_id=code, after={"name": name}
        )
    return theme


def zone_save(
    *, actor: Any, code: str, name: str, kind: str, item_codes: list[str], description: str = "", sort: int = 0, status: str = Status.DRAFT
) -> Zone:
    bases = {b.code: b for b in BaseItem.objects.filter(code__in=item_codes)}
    missing = [c for c in item_codes if c not in bases]
    if missing:
        raise ValidationFailed(f"专区中的事项不存在：{'、'.join(missing)}。", code="unknown_item")
    with transaction.atomic():
        zone = Zone.objects.select_for_update().filter(code=code).first()
        before = None
        if zone is not None:
            before = {"name": zone.name, "items": list(zone.entries.values_list("item__code", flat=True)), "status": zone.status}
            unchanged = (zone.kind, zone.description, zone.sort) == (kind, description, sort)
            if unchanged and before == {"name": name, "items": list(dict.fromkeys(item_codes)), "status": status}:
                return zone
        zone, _ = Zone.objects.update_or_create(
            code=code, defaults={"name": name, "kind": kind, "description": description, "sort": sort, "status": status}
        )
        zone.entries.all().delete()
        ZoneEntry.objects.bulk_create([ZoneEntry(zone=zone, item=bases[c], sort=i) for i, c in enumerate(dict.fromkeys(item_codes))])
        audit_record(
            actor=actor,
            action="zone.save",
            object_type="zone",
            object_id=code,
            before=before,
            after={"name": name, "items": item_codes, "status": status},
        )
    return zone


def synonym_set(*, actor: Any, term: str, expansions: list[str]) -> Synonym:
    term = term.strip()
    expansions = [e.strip() for e in expansions if e.strip()]
    if not term or not expansions:
        raise ValidationFailed("同义词和标准词都不能为空。", code="invalid_synonym")
    with transaction.atomic():
        existing = Synonym.objects.filter(term=term).first()
        if existing and existing.expansions == expansions:
            return existing
        synonym, _ = Synonym.objects.update_or_create(term=term, defaults={"expansions": expansions})
        audit_record(actor=actor, action="synonym.set", object_type="synonym", object_id=term, after={"expansions": expansions})
        # Synonyms change how every item is found: mark the whole index stale.
        _feed(actor=actor, base_code="*")
    return synonym


def bundle_save(
    *,
    actor: Any,
    code: str,
    name: str,
    audience: str,
    items: list[dict[str, Any]],
    description: str = "",
    on_part_failed: str = Bundle.OnPartFailed.WITHDRAW_DEPENDENTS,
) -> Bundle:
    """Define a "one thing done once" bundle: ``items`` are ``{"item": base code, "optional": bool,
    "depends_on": [base codes]}`` in order. Dependencies must name earlier items of the bundle
    (no cycles). ``on_part_failed`` says what the parts needing a refused part do: be withdrawn
    (the others continue) or wait for the applicant to apply for it again. Idempotent: the same
    definition writes nothing."""
    if on_part_failed not in Bundle.OnPartFailed.values:
        raise ValidationFailed("部分事项未通过时的处理方式只能是“终止依赖事项”或“等待重新申请”。", code="bundle_policy")
    codes = [entry["item"] for entry in items]
    if len(set(codes)) != len(codes):
        raise ValidationFailed("一件事中的事项不能重复。", code="bundle_duplicate_item")
    bases = {b.code: b for b in BaseItem.objects.filter(code__in=codes)}
    missing = [c for c in codes if c not in bases]
    if missing:
        raise ValidationFailed(f"一件事中的事项不存在：{'、'.join(missing)}。", code="unknown_item")
    for position, entry in enumerate(items):
        for dependency in entry.get("depends_on", []):
            if dependency not in codes[:position]:
                raise ValidationFailed(f"“{dependency}”必须是排在前面的事项，且不能循环依赖。", code="bundle_dependency")
    wanted = [(e["item"], bool(e.get("optional")), sorted(e.get("depends_on", []))) for e in items]
    with transaction.atomic():
        bundle = Bundle.objects.select_for_update().filter(code=code).first()
        if bundle is not None:
            current = [
                (bi.item.code, bi.optional, sorted(d.item.code for d in bi.depends_on.all()))
                for bi in bundle.items.select_related("item").prefetch_related("depends_on__item")
            ]
            same = (bundle.name, bundle.audience, bundle.description, bundle.on_part_failed) == (
                name,
                audience,
                description,
                on_part_failed,
            )
            if same and current == wanted:
                return bundle
            bundle.items.all().delete()
        bundle, created = Bundle.objects.update_or_create(
            code=code, defaults={"name": name, "audience": audience, "description": description, "on_part_failed": on_part_failed}
        )
        made: dict[str, BundleItem] = {}
        for position, (item_code, optional, depends) in enumerate(wanted):
            member = BundleItem.objects.create(bundle=bundle, item=bases[item_code], position=position, optional=optional)
            member.depends_on.set([made[d] for d in depends])
            made[item_code] = member
        audit_record(
            actor=actor,
            action="bundle.create" if created else "bundle.update",
            object_type="bundle",
            object_id=code,
            after={"name": name, "items": wanted, "on_part_failed": on_part_failed},
        )
    return bundle
