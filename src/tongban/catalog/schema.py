"""Field specifications of the catalogue exchange format (JSON and xlsx).

One table drives validation, the xlsx column headers and the export, so the documented format
(docs/catalog-format.md) and the code cannot drift apart. Messages are Chinese and name the
field as the operator sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tongban.catalog import codes


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    kind: str = "str"  # str | text | int | bool | list_str | list_int
    required: bool = False
    max_len: int | None = None
    choices: frozenset[Any] | None = None
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _c(d: dict[Any, str]) -> frozenset[Any]:
    return frozenset(d.keys())


ITEM_FIELDS: list[Field] = [
    Field("code", "事项基本编码", required=True, max_len=12),
    Field("name", "事项名称", required=True, max_len=120),
    Field("item_type", "事项类型", required=True, choices=_c(codes.ITEM_TYPES)),
    Field("summary", "事项简介", "text", default=""),
    Field("legal_basis", "设定依据", "text", required=True),
    Field("conditions", "受理条件", "text", required=True),
    Field("service_objects", "服务对象", "list_int", required=True, choices=_c(codes.SERVICE_OBJECTS)),
    Field("levels", "行使层级", "list_int", required=True, choices=_c(codes.LEVELS)),
    Field("aliases", "俗称", "list_str", default=[]),
    Field("keywords", "关键词", "list_str", default=[]),
    Field("themes", "主题", "list_str", default=[]),
    Field("result_name", "审批结果名称", max_len=120, default=""),
    Field("result_type", "审批结果类型", max_len=40, default=""),
    Field("result_license_type", "结果电子证照类型", max_len=120, default=""),
    Field("popularity", "办件热度", "int", default=0, minimum=0),
    Field("status", "状态", choices=frozenset({"draft", "published", "withdrawn"}), default="draft"),
]

MATERIAL_FIELDS: list[Field] = [
    Field("name", "材料名称", required=True, max_len=200),
    Field("kind", "材料类型", choices=_c(codes.MATERIAL_KINDS), default="original"),
    Field("form", "材料形式", choices=_c(codes.MATERIAL_FORMS), default="both"),
    Field("need", "是否必要", choices=_c(codes.MATERIAL_NEED), default="required"),
    Field("condition", "适用情形", max_len=200, default=""),
    Field("paper_copies", "纸质份数", "int", default=1, minimum=0, maximum=20),
    Field("paper_format", "纸质规格", max_len=40, default="A4"),
    Field("source", "来源渠道", choices=_c(codes.MATERIAL_SOURCES), default="applicant"),
    Field("source_body", "出具单位", max_len=120, default=""),
    Field("has_blank_form", "有空白表格", "bool", default=False),
    Field("has_sample", "有示例样表", "bool", default=False),
    Field("notes", "填报须知", max_len=500, default=""),
    Field("acceptance_standard", "受理标准", max_len=500, default=""),
    Field("legal_basis", "依据", max_len=300, default=""),
    Field("license_type", "可替代电子证照", max_len=120, default=""),
]

STEP_FIELDS: list[Field] = [
    Field("name", "环节", required=True, max_len=40),
    Field("actor", "办理人", max_len=60, default=""),
    Field("description", "办理内容", required=True, max_len=500),
    Field("time_limit", "时限", max_len=40, default=""),
]

FEE_FIELDS: list[Field] = [
    Field("name", "收费项目", required=True, max_len=120),
    Field("standard", "收费标准", required=True, max_len=200),
    Field("amount_fen", "金额（分）", "int", default=None, minimum=0),
    Field("basis", "收费依据", required=True, max_len=300),
    Field("reducible", "可减免", "bool", default=False),
    Field("reduction_basis", "减免依据", max_len=300, default=""),
]

FAQ_FIELDS: list[Field] = [
    Field("question", "问题", required=True, max_len=200),
    Field("answer", "解答", "text", required=True),
]

IMPLEMENTATION_FIELDS: list[Field] = [
    Field("base_code", "事项基本编码", required=True, max_len=12),
    Field("department", "实施主体统一社会信用代码", required=True, max_len=18),
    Field("level", "行使层级", "int", required=True, choices=_c(codes.LEVELS)),
    Field("power_source", "权力来源", "int", choices=_c(codes.POWER_SOURCES), default=1),
    Field("body_nature", "实施主体性质", "int", choices=_c(codes.BODY_NATURES), default=1),
    Field("entrusting_body", "委托部门", max_len=100, default=""),
    Field("case_type", "办件类型", "int", choices=_c(codes.CASE_TYPES), default=2),
    Field("legal_limit", "法定办结时限", "int", required=True, minimum=0, maximum=999),
    Field("legal_limit_unit", "法定时限单位", "int", choices=_c(codes.LIMIT_UNITS), default=1),
    Field("legal_limit_note", "法定时限说明", max_len=300, default=""),
    Field("promised_limit", "承诺办结时限", "int", required=True, minimum=0, maximum=999),
    Field("promised_limit_unit", "承诺时限单位", "int", choices=_c(codes.LIMIT_UNITS), default=1),
    Field("promised_limit_note", "承诺时限说明", max_len=300, default=""),
    Field("handling_forms", "办理形式", "list_str", required=True, choices=_c(codes.HANDLING_FORMS)),
    Field("online_depth", "网上办理深度", "list_int", default=[], choices=_c(codes.ONLINE_DEPTHS)),
    Field("visits", "到办事现场次数", "int", default=1, minimum=0, maximum=9),
    Field("fee_required", "是否收费", "bool", default=False),
    Field("place", "办理地点", required=True, max_len=300),
    Field("hours", "办理时间", required=True, max_len=300),
    Field("consult_channel", "咨询方式", required=True, max_len=300),
    Field("complaint_channel", "监督投诉方式", required=True, max_len=300),
    Field("special_procedures", "特别程序", max_len=300, default=""),
    Field("handling_area", "通办范围", max_len=40, default=""),
    Field("appointment", "支持预约办理", "bool", default=False),
    Field("courier", "支持物流快递", "bool", default=False),
    Field("online_payment", "支持网上支付", "bool", default=False),
    Field("kiosk", "支持自助终端办理", "bool", default=False),
    Field("intermediary", "中介服务", max_len=200, default=""),
    Field("apply_url", "在线办理地址", max_len=300, default=""),
    Field("status", "状态", choices=frozenset({"draft", "published", "withdrawn"}), default="draft"),
]

_TRUE = {"是", "true", "1", "yes", "y", "True", True}
_FALSE = {"否", "false", "0", "no", "n", "False", False, "", None}


def _split(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        for sep in ("；", ";", "，", ","):
            value = value.replace(sep, "\n")
        return [part.strip() for part in value.split("\n") if part.strip()]
    return [value]


def clean_record(spec: list[Field], raw: Any) -> tuple[dict[str, Any], list[str]]:
    """Validate one record; returns the cleaned values and a list of Chinese error messages."""
    errors: list[str] = []
    out: dict[str, Any] = {}
    if not isinstance(raw, dict):
        return {}, ["记录应为对象（键值对）。"]
    known = {f.key for f in spec}
    unknown = sorted(k for k in raw if k not in known and not k.startswith("_") and k not in _NESTED)
    if unknown:
        errors.append(f"未知字段：{'、'.join(unknown)}。")
    for f in spec:
        value = raw.get(f.key)
        if isinstance(value, str):
            value = value.strip()
        missing = value is None or value == "" or value == []
        if missing:
            if f.required:
                errors.append(f"“{f.label}”不能为空。")
            out[f.key] = list(f.default) if isinstance(f.default, list) else f.default
            continue
        try:
            out[f.key] = _coerce(f, value)
        except ValueError as exc:
            errors.append(f"“{f.label}”{exc}")
    return out, errors


_NESTED = {"materials", "steps", "fees", "faqs"}


def _coerce(f: Field, value: Any) -> Any:
    if f.kind in ("str", "text"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(int(value)) if float(value).is_integer() else str(value)
        if not isinstance(value, str):
            raise ValueError("应为文本。")
        if any(ord(ch) < 32 and ch not in "\n\t" for ch in value):
            raise ValueError("含有不可见的控制字符，请删除后重试。")
        if f.max_len and len(value) > f.max_len:
            raise ValueError(f"不能超过 {f.max_len} 个字符（现有 {len(value)} 个）。")
        if f.choices is not None and value not in f.choices:
            raise ValueError(f"取值“{value}”无效，可选：{'、'.join(sorted(str(c) for c in f.choices))}。")
        return value
    if f.kind == "int":
        number = _int(value)
        if f.minimum is not None and number < f.minimum:
            raise ValueError(f"不能小于 {f.minimum}。")
        if f.maximum is not None and number > f.maximum:
            raise ValueError(f"不能大于 {f.maximum}。")
        if f.choices is not None and number not in f.choices:
            raise ValueError(f"取值“{number}”无效，可选：{'、'.join(str(c) for c in sorted(f.choices))}。")
        return number
    if f.kind == "bool":
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ValueError("应为“是”或“否”。")
    if f.kind == "list_str":
        items = [str(v).strip() for v in _split(value)]
        if f.choices is not None:
            bad = [v for v in items if v not in f.choices]
            if bad:
                raise ValueError(f"取值“{'、'.join(bad)}”无效，可选：{'、'.join(sorted(f.choices))}。")
        return items
    if f.kind == "list_int":
        numbers = [_int(v) for v in _split(value)]
        if f.choices is not None:
            bad = [str(v) for v in numbers if v not in f.choices]
            if bad:
                raise ValueError(f"取值“{'、'.join(bad)}”无效，可选：{'、'.join(str(c) for c in sorted(f.choices))}。")
        return numbers
    raise AssertionError(f.kind)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("应为整数。")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(f"应为整数（现为“{value}”）。")
