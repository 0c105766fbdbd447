"""The catalogue exchange files: JSON and xlsx in, JSON and xlsx out (docs/catalog-format.md).

Readers turn a file into the exchange dict that `services.catalog_import` validates; a file that
cannot even be read is refused with the same row-by-row report shape.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from openpyxl import Workbook, load_workbook

from tongban.catalog import schema
from tongban.catalog.models import BaseItem, Implementation
from tongban.catalog.services import ImportProblem, ImportRefused, impl_snapshot, item_snapshot

FORMAT = "tongban-catalog/1"
MAX_ROWS_PER_SHEET = 50_000

ITEM_SHEET = "事项"
IMPL_SHEET = "实施清单"
NESTED_SHEETS = [
    ("materials", "申请材料", schema.MATERIAL_FIELDS),
    ("steps", "办理流程", schema.STEP_FIELDS),
    ("fees", "收费", schema.FEE_FIELDS),
    ("faqs", "常见问题", schema.FAQ_FIELDS),
]
ITEM_CODE_LABEL = "事项基本编码"


def read_json(data: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ImportRefused([ImportProblem("文件", 1, "文件不是 UTF-8 编码的文本。")]) from exc
    except json.JSONDecodeError as exc:
        raise ImportRefused([ImportProblem("文件", exc.lineno, f"JSON 格式错误（第 {exc.colno} 列）：{exc.msg}。")]) from exc
    if not isinstance(payload, dict):
        raise ImportRefused([ImportProblem("文件", 1, "顶层应为对象。")])
    return payload


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    return value


def _sheet_records(ws: Any, spec: list[schema.Field], sheet: str, lead: list[str], problems: list[ImportProblem]) -> list[dict[str, Any]]:
    label_to_key = {f.label: f.key for f in spec}
    for label in lead:  # nested sheets lead with the owning item's code
        label_to_key[label] = "_item"
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        return []
    keys: list[str | None] = []
    for column, title in enumerate(header, start=1):
        title = _cell(title)
        if title in (None, ""):
            keys.append(None)
        elif title in label_to_key:
            keys.append(label_to_key[title])
        else:
            problems.append(ImportProblem(f"工作表“{sheet}”", 1, f"第 {column} 列的列名“{title}”无法识别。"))
            keys.append(None)
    records = []
    for number, values in enumerate(rows, start=2):
        if number - 1 > MAX_ROWS_PER_SHEET:
            problems.append(ImportProblem(f"工作表“{sheet}”", number, f"行数超过 {MAX_ROWS_PER_SHEET}，请拆分文件。"))
            break
        if values is None or all(v in (None, "") for v in values):
            continue
        record: dict[str, Any] = {"_row": number}
        for key, value in zip(keys, values, strict=False):
            if key is not None:
                record[key] = _cell(value)
        records.append(record)
    return records


def read_xlsx(data: bytes) -> dict[str, Any]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportRefused([ImportProblem("文件", 1, "无法读取该 Excel 文件，请确认是 .xlsx 格式且未加密。")]) from exc
    problems: list[ImportProblem] = []
    known = {ITEM_SHEET, IMPL_SHEET, *(title for _, title, _ in NESTED_SHEETS)}
    for name in workbook.sheetnames:
        if name not in known:
            problems.append(ImportProblem(f"工作表“{name}”", 1, f"无法识别的工作表，可用的工作表：{'、'.join(sorted(known))}。"))
    items: list[dict[str, Any]] = []
    if ITEM_SHEET in workbook.sheetnames:
        items = _sheet_records(workbook[ITEM_SHEET], schema.ITEM_FIELDS, ITEM_SHEET, [], problems)
    by_code = {str(item.get("code")): item for item in items if item.get("code")}
    for key, title, spec in NESTED_SHEETS:
        for item in items:
            item.setdefault(key, [])
        if title not in workbook.sheetnames:
            continue
        for record in _sheet_records(workbook[title], spec, title, [ITEM_CODE_LABEL], problems):
            code = str(record.pop("_item", "") or "")
            owner = by_code.get(code)
            if owner is None:
                problems.append(ImportProblem(f"工作表“{title}”", record["_row"], f"事项基本编码“{code}”不在“{ITEM_SHEET}”工作表中。"))
                continue
            owner[key].append(record)
    impls: list[dict[str, Any]] = []
    if IMPL_SHEET in workbook.sheetnames:
        impls = _sheet_records(workbook[IMPL_SHEET], schema.IMPLEMENTATION_FIELDS, IMPL_SHEET, [], problems)
    workbook.close()
    if problems:
        raise ImportRefused(problems)
    return {"format": FORMAT, "items": items, "implementations": impls}


def export_payload(*, published_only: bool = False) -> dict[str, Any]:
    items = BaseItem.objects.prefetch_related("themes", "materials", "steps", "fees", "faqs").order_by("code")
    impls = Implementation.objects.select_related("base", "department").order_by("code")
    if published_only:
        items = items.filter(status="published")
        impls = impls.filter(status="published", base__status="published")
    return {
        "format": FORMAT,
        "items": [item_snapshot(item) for item in items],
        "implementations": [impl_snapshot(impl) for impl in impls.iterator(chunk_size=2000)],
    }


def write_json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8")


def _to_cell(field: schema.Field, value: Any) -> Any:
    if field.kind in ("list_str", "list_int"):
        return "；".join(str(v) for v in value or [])
    if field.kind == "bool":
        return "是" if value else "否"
    return value


def write_xlsx(payload: dict[str, Any]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(ITEM_SHEET)
    sheet.append([f.label for f in schema.ITEM_FIELDS])
    for item in payload["items"]:
        sheet.append([_to_cell(f, item.get(f.key)) for f in schema.ITEM_FIELDS])
    for key, title, spec in NESTED_SHEETS:
        sheet = workbook.create_sheet(title)
        sheet.append([ITEM_CODE_LABEL, *(f.label for f in spec)])
        for item in payload["items"]:
            for row in item.get(key, []):
                sheet.append([item["code"], *(_to_cell(f, row.get(f.key)) for f in spec)])
    sheet = workbook.create_sheet(IMPL_SHEET)
    sheet.append([f.label for f in schema.IMPLEMENTATION_FIELDS])
    for impl in payload["implementations"]:
        sheet.append([_to_cell(f, impl.get(f.key)) for f in schema.IMPLEMENTATION_FIELDS])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
