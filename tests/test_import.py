"""Bulk import and export: good files land whole, bad files are refused whole with a row report."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import load_workbook

from tests import factories as f
from tongban.catalog import schema, transfer
from tongban.catalog.models import BaseItem, Implementation
from tongban.catalog.services import ImportRefused, catalog_import
from tongban.common.models import AuditEvent


def _payload(mini, *, items=None, impls=None):
    return {
        "format": "tongban-catalog/1",
        "items": items if items is not None else [f.item_data("070100006000", "临时居民身份证申领", aliases=["临时身份证"])],
        "implementations": impls if impls is not None else [f.impl_data("070100006000", mini.police_donghu)],
    }


def _counts():
    return BaseItem.objects.count(), Implementation.objects.count(), AuditEvent.objects.count()


def test_good_json_lands_whole(mini):
    result = catalog_import(actor=None, payload=transfer.read_json(json.dumps(_payload(mini)).encode()))
    assert (result.items_created, result.implementations_created) == (1, 1)
    impl = Implementation.objects.get(base__code="070100006000")
    assert impl.code == mini.police_donghu.credit_code + "4070100006000"
    assert AuditEvent.objects.filter(action="catalog.import").count() == 1


def test_reimport_updates_and_audits(mini):
    catalog_import(actor=None, payload=_payload(mini))
    changed = _payload(mini)
    changed["items"][0]["summary"] = "更新后的简介"
    result = catalog_import(actor=None, payload=changed)
    assert (result.items_created, result.items_updated) == (0, 1)
    item = BaseItem.objects.get(code="070100006000")
    assert item.version == 2 and item.summary == "更新后的简介"


def test_bad_rows_refuse_the_whole_file_with_a_row_report(mini):
    before = _counts()
    good = f.item_data("070100007000", "好的事项")
    bad = f.item_data("070100008000", "", item_type="99", materials=[{"name": "材料", "paper_copies": "三份"}])
    duplicate = f.item_data("070100007000", "重复编码")
    impls = [f.impl_data("070100007000", mini.police_donghu), f.impl_data("999999999999", mini.police_donghu, legal_limit="abc")]
    with pytest.raises(ImportRefused) as info:
        catalog_import(actor=None, payload=_payload(mini, items=[good, bad, duplicate], impls=impls))
    report = [str(p) for p in info.value.problems]
    assert "事项第 2 行：“事项名称”不能为空。" in report
    assert any(r.startswith("事项第 2 行：“事项类型”取值“99”无效") for r in report)
    assert "事项第 2 行：申请材料第 1 条：“纸质份数”应为整数（现为“三份”）。" in report
    assert "事项第 3 行：事项基本编码“070100007000”与第 1 行重复。" in report
    assert any(r.startswith("实施清单第 2 行：“法定办结时限”应为整数") for r in report)
    assert info.value.code == "import_refused"
    assert "未导入任何数据" in info.value.message
    assert _counts() == before


def test_unknown_base_and_department_are_reported(mini):
    impl = f.impl_data("070100001000", mini.police_donghu)
    impl["department"] = "11360000MB0000000X"
    missing_base = f.impl_data("123456789012", mini.police_donghu)
    with pytest.raises(ImportRefused) as info:
        catalog_import(actor=None, payload=_payload(mini, items=[], impls=[impl, missing_base]))
    assert [str(p) for p in info.value.problems] == [
        "实施清单第 1 行：实施主体“11360000MB0000000X”不存在。",
        "实施清单第 2 行：基本事项“123456789012”不存在，也不在本文件中。",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe\x00", "文件不是 UTF-8 编码的文本。"),
        (b'{"format": "tongban-catalog/1", "items": [', "JSON 格式错误"),
        (b"[]", "顶层应为对象。"),
    ],
)
def test_unreadable_json(data, message):
    with pytest.raises(ImportRefused) as info:
        transfer.read_json(data)
    assert message in str(info.value.problems[0])


def test_wrong_format_marker(db):
    with pytest.raises(ImportRefused) as info:
        catalog_import(actor=None, payload={"format": "other", "items": []})
    assert "tongban-catalog/1" in info.value.problems[0].message


def test_xlsx_round_trip(mini):
    exported = transfer.export_payload()
    data = transfer.write_xlsx(exported)
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    assert workbook.sheetnames == ["事项", "申请材料", "办理流程", "收费", "常见问题", "实施清单"]
    read_back = transfer.read_xlsx(data)
    assert len(read_back["items"]) == 4 and len(read_back["implementations"]) == 7
    before = _counts()
    result = catalog_import(actor=None, payload=read_back)
    assert (result.items_created, result.implementations_created) == (0, 0)
    # unchanged content: no new versions, only the import's own audit row
    assert BaseItem.objects.filter(version__gt=1).count() == 0
    assert _counts()[:2] == before[:2]
    assert transfer.export_payload()["items"] == exported["items"]


def test_xlsx_with_bad_rows_is_refused_with_sheet_rows(mini):
    payload = transfer.export_payload()
    payload["items"][1]["name"] = ""
    payload["items"][2]["materials"][0]["need"] = "maybe"
    data = transfer.write_xlsx(payload)
    before = _counts()
    with pytest.raises(ImportRefused) as info:
        catalog_import(actor=None, payload=transfer.read_xlsx(data))
    report = [str(p) for p in info.value.problems]
    assert "事项第 3 行：“事项名称”不能为空。" in report
    assert any("工作表“申请材料”第" in r and "“是否必要”取值“maybe”无效" in r for r in report)
    assert _counts() == before


def test_xlsx_unknown_sheet_and_column():
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "事项"
    wb.active.append(["事项基本编码", "名字"])
    wb.create_sheet("备注")
    out = io.BytesIO()
    wb.save(out)
    with pytest.raises(ImportRefused) as info:
        transfer.read_xlsx(out.getvalue())
    report = [str(p) for p in info.value.problems]
    assert "工作表“备注”第 1 行：无法识别的工作表，可用的工作表：事项、办理流程、实施清单、常见问题、收费、申请材料。" in report
    assert "工作表“事项”第 1 行：第 2 列的列名“名字”无法识别。" in report


def test_not_an_xlsx():
    with pytest.raises(ImportRefused) as info:
        transfer.read_xlsx(b"PK\x03\x04 not really a zip")
    assert "无法读取该 Excel 文件" in info.value.problems[0].message


def test_commands(mini, tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_payload(mini), ensure_ascii=False), encoding="utf-8")
    call_command("catalog_import", str(good))
    assert "新增事项 1 个" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_payload(mini, items=[f.item_data("X", "")], impls=[])), encoding="utf-8")
    with pytest.raises(CommandError, match="已整体拒绝"):
        call_command("catalog_import", str(bad))
    out = tmp_path / "catalog.xlsx"
    call_command("catalog_export", output=out, published_only=True)
    # the imported item is a draft until an operator publishes it: not in a published-only export
    assert len(transfer.read_xlsx(out.read_bytes())["items"]) == 4
    assert BaseItem.objects.get(code="070100006000").status == "draft"


def test_format_document_lists_every_field():
    text = (Path(__file__).resolve().parent.parent / "docs" / "catalog-format.md").read_text(encoding="utf-8")
    for spec in (
        schema.ITEM_FIELDS,
        schema.MATERIAL_FIELDS,
        schema.STEP_FIELDS,
        schema.FEE_FIELDS,
        schema.FAQ_FIELDS,
        schema.IMPLEMENTATION_FIELDS,
    ):
        for field in spec:
            assert f"| `{field.key}` | {field.label} |" in text, field.key
