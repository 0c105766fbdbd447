"""Catalogue services: save, version, publish, withdraw, audit, and two editors at once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from tests import factories as f
from tongban.catalog import services as catalog
from tongban.catalog.models import BaseItem, ChangeFeed, Implementation
from tongban.common.errors import Conflict, ValidationFailed
from tongban.common.models import AuditEvent


def test_implementation_code_is_credit_code_level_and_base_code(mini):
    impl = f.impl_of(mini.birth, mini.police_donghu)
    assert len(impl.code) == 31
    assert impl.code == mini.police_donghu.credit_code + "4" + "070100001000"
    assert impl.division == mini.donghu


def test_update_bumps_version_and_audits_before_and_after(mini):
    data = f.item_data(
        "070100001000",
        "出生登记（落户）",
        summary="新的简介。",
        aliases=["上户口", "新生儿落户"],
        themes=["birth"],
        popularity=350000,
        status="published",
        materials=[
            {"name": "出生医学证明", "source": "shared", "license_type": "出生医学证明"},
            {"name": "父母双方居民户口簿", "source": "shared", "license_type": "居民户口簿"},
        ],
    )
    item = catalog.base_item_save(actor=None, data=data, expected_version=1, reason="简介更新")
    assert item.version == 2
    row = AuditEvent.objects.filter(action="item.update", object_id="070100001000").get()
    assert row.before == {"summary": "出生登记（落户）的办事指南。"}
    assert row.after == {"summary": "新的简介。"}
    assert row.reason == "简介更新"


def test_saving_the_same_content_changes_nothing(mini):
    before = AuditEvent.objects.count()
    snapshot = catalog.item_snapshot(mini.card)
    catalog.base_item_save(actor=None, data=snapshot)
    assert BaseItem.objects.get(pk=mini.card.pk).version == 1
    assert AuditEvent.objects.count() == before


def test_stale_version_is_refused(mini):
    data = catalog.item_snapshot(mini.card)
    catalog.base_item_save(actor=None, data={**data, "summary": "甲的修改"}, expected_version=1)
    with pytest.raises(Conflict) as info:
        catalog.base_item_save(actor=None, data={**data, "summary": "乙的修改"}, expected_version=1)
    assert info.value.code == "stale_version"
    assert BaseItem.objects.get(pk=mini.card.pk).summary == "甲的修改"


def test_invalid_item_lists_every_problem(db):
    data = f.item_data("BAD", "", item_type="99", service_objects=[], materials=[{"name": ""}])
    with pytest.raises(ValidationFailed) as info:
        catalog.base_item_save(actor=None, data=data)
    problems = info.value.details
    assert "“事项名称”不能为空。" in problems
    assert any("事项类型" in p for p in problems)
    assert any(p.startswith("申请材料第 1 条") for p in problems)
    assert "“事项基本编码”应为 12 位数字或大写字母。" in problems
    assert not BaseItem.objects.exists()


def test_publishing_needs_a_complete_guide(mini):
    catalog.base_item_save(actor=None, data=f.item_data("070100009000", "临时身份证申领", materials=[], steps=[]))
    with pytest.raises(ValidationFailed) as info:
        catalog.base_item_set_status(actor=None, code="070100009000", status="published")
    assert info.value.code == "guide_incomplete"
    assert "缺少申请材料" in info.value.message


def test_withdrawal_needs_a_reason_and_is_audited(mini):
    with pytest.raises(ValidationFailed):
        catalog.base_item_set_status(actor=None, code=mini.car.code, status="withdrawn")
    catalog.base_item_set_status(actor=None, code=mini.car.code, status="withdrawn", reason="职能调整")
    row = AuditEvent.objects.get(action="item.withdrawn")
    assert (row.before, row.after, row.reason) == ({"status": "published"}, {"status": "withdrawn"}, "职能调整")


def test_implementation_level_must_match_the_department(mini):
    data = f.impl_data(mini.birth.code, mini.police_donghu, level=3)
    with pytest.raises(ValidationFailed) as info:
        catalog.implementation_save(actor=None, data=data)
    assert info.value.code == "level_mismatch"


def test_promise_cannot_exceed_the_legal_limit(mini):
    with pytest.raises(ValidationFailed) as info:
        catalog.implementation_save(actor=None, data=f.impl_data(mini.birth.code, mini.police_county, legal_limit=5, promised_limit=10))
    assert "承诺办结时限" in info.value.message


def test_implementation_needs_published_base_before_publishing(mini):
    catalog.base_item_save(actor=None, data=f.item_data("070100009000", "临时身份证申领"))
    impl = catalog.implementation_save(actor=None, data=f.impl_data("070100009000", mini.police_donghu))
    with pytest.raises(ValidationFailed) as info:
        catalog.implementation_set_status(actor=None, code=impl.code, status="published")
    assert info.value.code == "base_not_published"


def test_every_change_writes_the_feed(mini):
    head = ChangeFeed.objects.order_by("-id").first().id
    catalog.base_item_set_status(actor=None, code=mini.car.code, status="withdrawn", reason="测试")
    assert list(ChangeFeed.objects.filter(id__gt=head).values_list("base_code", flat=True)) == [mini.car.code]


@pytest.mark.django_db(transaction=True)
def test_two_operators_saving_at_once_one_wins(mini):
    """Both read version 1 and save at the same moment: exactly one save lands, the other is told."""
    snapshot = catalog.item_snapshot(mini.card)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def edit(summary: str) -> None:
        try:
            barrier.wait(timeout=10)
            catalog.base_item_save(actor=None, data={**snapshot, "summary": summary}, expected_version=1)
            outcomes.append("saved")
        except Conflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=(s,)) for s in ("甲", "乙")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "saved"]
    item = BaseItem.objects.get(pk=mini.card.pk)
    assert item.version == 2
    assert item.summary in ("甲", "乙")
    assert AuditEvent.objects.filter(action="item.update", object_id=item.code).count() == 1


def test_bulk_create_skips_existing_and_audits(mini):
    rows = [
        f.impl_data(mini.birth.code, mini.police_donghu, status="published"),
        f.impl_data(mini.car.code, mini.police_nanchang, status="published"),
        f.impl_data(mini.company.code, mini.market_donghu, status="published"),
    ]
    assert catalog.implementations_bulk_create(actor=None, rows=rows) == 0
    new_dept = f.department(mini.wuyuan, "市场监管", "07")
    created = catalog.implementations_bulk_create(actor=None, rows=[f.impl_data(mini.company.code, new_dept, status="published")])
    assert created == 1
    impl = Implementation.objects.get(department=new_dept)
    assert AuditEvent.objects.filter(action="implementation.create", object_id=impl.code).count() == 1
