"""Turn stored values (audit rows, code lists) into what an operator reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import reverse

from tongban.catalog import codes, schema
from tongban.catalog.models import Status
from tongban.common.models import AuditEvent

ACTION_LABELS = {
    "item.create": "新建事项",
    "item.update": "修改事项",
    "item.published": "发布事项",
    "item.withdrawn": "撤回事项",
    "item.draft": "退回草稿",
    "implementation.create": "新建实施事项",
    "implementation.update": "修改实施事项",
    "implementation.published": "发布实施事项",
    "implementation.withdrawn": "撤回实施事项",
    "implementation.draft": "实施事项退回草稿",
    "catalog.import": "批量导入",
    "theme.create": "新建主题",
    "theme.update": "修改主题",
    "zone.save": "保存专区",
    "synonym.set": "设置同义词",
    "calendar.override_set": "设置工作日调整",
    "calendar.override_delete": "删除工作日调整",
    "calendar.year_set": "设置年度日历",
    "division.create": "新建区划",
    "division.update": "修改区划",
    "department.create": "新建部门",
    "department.update": "修改部门",
    "hall.create": "新建办事大厅",
    "hall.update": "修改办事大厅",
    "account.create": "新建账号",
    "account.update": "修改账号",
}

# Field labels of every snapshot key, so a change reads "受理条件" and not "conditions".
FIELD_LABELS: dict[str, str] = {
    **{f.key: f.label for f in schema.IMPLEMENTATION_FIELDS},
    **{f.key: f.label for f in schema.ITEM_FIELDS},
    "materials": "申请材料",
    "steps": "办理流程",
    "fees": "收费",
    "faqs": "常见问题",
    "items": "事项",
    "implementations": "实施事项",
    "is_workday": "是否工作日",
    "note": "说明",
    "source": "依据",
    "complete": "已完整录入",
    "expansions": "标准词",
    "username": "用户名",
    "kind": "类型",
    "division": "区划",
}

STATUS_LABELS = dict(Status.choices)
MAX_VALUE_CHARS = 300


@dataclass
class Change:
    label: str
    before: str
    after: str
    created: bool = False  # no "before": the object (or the field) was new


@dataclass
class EventView:
    event: AuditEvent
    action_label: str
    changes: list[Change]
    link: str | None


def _text(key: str, value: Any) -> str:
    if value is None or value == "" or value == []:
        return "（空）"
    if isinstance(value, bool):
        return "是" if value else "否"
    if key == "status" and value in STATUS_LABELS:
        return STATUS_LABELS[value]
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            # Nested guide rows: name each by its first field (材料名称, 环节, 收费项目, 问题).
            text = "；".join(str(next(iter(v.values()), "")) for v in value)
            text = f"{len(value)} 条：{text}"
        else:
            text = "、".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = "；".join(f"{FIELD_LABELS.get(k, k)}：{_text(k, v)}" for k, v in value.items())
    else:
        text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def _link(event: AuditEvent) -> str | None:
    if event.object_type == "item":
        return reverse("console:item", args=[event.object_id])
    if event.object_type == "implementation":
        return reverse("console:implementation", args=[event.object_id])
    if event.object_type == "zone":
        return reverse("console:zone", args=[event.object_id])
    return None


def event_view(event: AuditEvent) -> EventView:
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    keys = list(dict.fromkeys([*before, *after]))
    order = list(FIELD_LABELS)
    keys.sort(key=lambda k: order.index(k) if k in order else len(order))
    changes = [
        Change(
            FIELD_LABELS.get(k, k),
            _text(k, before.get(k)) if k in before else "—",
            _text(k, after.get(k)) if k in after else "—",
            created=not before,
        )
        for k in keys
    ]
    return EventView(event, ACTION_LABELS.get(event.action, event.action), changes, _link(event))


def event_views(events: list[AuditEvent]) -> list[EventView]:
    return [event_view(e) for e in events]


def label_list(mapping: dict[Any, str], values: list[Any]) -> str:
    return "、".join(mapping.get(v, str(v)) for v in values) or "—"


def implementation_facts(impl: Any) -> list[tuple[str, str]]:
    """The implementation's fields as (label, text) for the read-only view."""
    out: list[tuple[str, str]] = []
    for f in schema.IMPLEMENTATION_FIELDS:
        if f.key in ("base_code", "department", "status"):
            continue
        value = getattr(impl, f.key)
        if f.key == "handling_forms":
            text = label_list(codes.HANDLING_FORMS, value)
        elif f.key == "online_depth":
            text = label_list(codes.ONLINE_DEPTHS, value)
        elif f.choices is not None and f.kind == "int":
            text = getattr(impl, f"get_{f.key}_display")()
        else:
            text = _text(f.key, value)
        out.append((f.label, text))
    return out


def yuan(fen: int | None) -> str:
    """Integer 分 as 元 with two decimals ("12.50"); "—" when the amount is not fixed."""
    if fen is None:
        return "—"
    return f"{fen // 100}.{fen % 100:02d}"
