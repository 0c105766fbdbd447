"""Build catalogue data through the real services, as an operator would."""

from __future__ import annotations

from typing import Any

from tongban.catalog import services as catalog
from tongban.catalog.models import BaseItem, Implementation
from tongban.demo.codes import credit_code
from tongban.org import services as org
from tongban.org.models import Department, Division


def division(code: str, name: str, level: int, parent: Division | None = None) -> Division:
    return org.division_upsert(actor=None, code=code, name=name, level=level, parent=parent)


def department(div: Division, kind: str, kind_code: str, name: str | None = None) -> Department:
    return org.department_upsert(
        actor=None, credit_code=credit_code(kind_code, div.code, "11"), name=name or f"{div.name}{kind}局", division=div, kind=kind
    )


def item_data(code: str, name: str, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": code,
        "name": name,
        "item_type": "07",
        "summary": f"{name}的办事指南。",
        "legal_basis": "《中华人民共和国户口登记条例》第七条",
        "conditions": "1. 申请人符合法定条件。",
        "service_objects": [1],
        "levels": [4],
        "aliases": [],
        "keywords": [],
        "themes": [],
        "popularity": 100,
        "status": "draft",
        "materials": [{"name": "居民身份证", "source": "shared", "license_type": "居民身份证"}],
        "steps": [{"name": "受理", "description": "窗口受理申请材料。"}, {"name": "办结", "description": "当场办结。"}],
        "fees": [],
        "faqs": [{"question": "需要本人到场吗？", "answer": "需要。"}],
    }
    data.update(overrides)
    return data


def impl_data(base_code: str, dept: Department, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "base_code": base_code,
        "department": dept.credit_code,
        "level": dept.division.level,
        "legal_limit": 20,
        "promised_limit": 5,
        "handling_forms": ["window", "online"],
        "online_depth": [1, 2, 3, 4],
        "visits": 1,
        "place": f"{dept.division.name}政务服务中心",
        "hours": "周一至周五 9:00—17:00",
        "consult_channel": "0791-88888888",
        "complaint_channel": "12345",
        "status": "draft",
    }
    data.update(overrides)
    return data


def published_item(code: str, name: str, depts: list[Department], **overrides: Any) -> BaseItem:
    catalog.base_item_save(actor=None, data=item_data(code, name, **overrides))
    item = catalog.base_item_set_status(actor=None, code=code, status="published")
    for dept in depts:
        impl = catalog.implementation_save(actor=None, data=impl_data(code, dept))
        catalog.implementation_set_status(actor=None, code=impl.code, status="published")
    return item


def impl_of(item: BaseItem, dept: Department) -> Implementation:
    return Implementation.objects.get(base=item, department=dept)
