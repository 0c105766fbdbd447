"""Search: Chinese word parts, colloquial terms, ranking, scope, filters, bad queries, freshness."""

from __future__ import annotations

import pytest
from django.db import transaction

from tests import factories as f
from tongban.catalog import services as catalog
from tongban.search import selectors as search
from tongban.search.selectors import Filters, QueryEmpty, QueryTooLong
from tongban.search.text import tokens


def names(result) -> list[str]:
    return [hit.item.name for hit in result.hits]


def test_tokens_have_words_and_bigrams():
    assert {"新车", "上牌", "车上"} <= set(tokens("新车上牌"))
    assert "社会保障" in tokens("社会保障卡申领")
    assert "保障" in tokens("社会保障卡申领")


@pytest.mark.parametrize(
    ("query", "expected_first"),
    [
        ("上牌", "机动车注册登记（新车上牌）"),
        ("出生", "出生登记（落户）"),
        ("社保", "社会保障卡申领"),
        ("上户口", "出生登记（落户）"),
        ("怎么给孩子上户口", "出生登记（落户）"),
        ("开公司", "企业设立登记（有限责任公司）"),
        ("社会保障卡申领", "社会保障卡申领"),
        ("ＳＨＥ保", None),  # full-width Latin is normalised; no crash, no match required
    ],
)
def test_finds_what_people_type(mini, query, expected_first):
    result = search.search_items(query, division=mini.province)
    if expected_first is None:
        return
    assert names(result)[0] == expected_first


def test_exact_name_beats_popularity(mini):
    f.published_item("070100003000", "出生医学证明办理", [mini.police_donghu], popularity=10)
    assert names(search.search_items("出生医学证明办理", division=mini.province))[0] == "出生医学证明办理"


def test_hall_scope_hides_other_cities_items_and_resolves_the_local_guide(mini):
    # From 婺源县 the 南昌-only car registration is out of scope; the birth registration resolves to 婺源.
    in_wuyuan = search.search_items("出生登记", division=mini.wuyuan)
    assert names(in_wuyuan) == ["出生登记（落户）"]
    assert in_wuyuan.hits[0].direct.department == mini.police_wuyuan
    assert search.search_items("上牌", division=mini.wuyuan).hits == []
    in_donghu = search.search_items("上牌", division=mini.donghu)
    assert in_donghu.hits[0].direct.department == mini.police_nanchang  # city item serves the district


def test_filters(mini):
    assert names(search.search_items("登记", division=mini.province, filters=Filters(service_object=2))) == ["企业设立登记（有限责任公司）"]
    assert names(search.search_items("登记", division=mini.province, filters=Filters(theme="birth"))) == ["出生登记（落户）"]
    assert set(names(search.search_items("登记", division=mini.province, filters=Filters(level=3)))) == {
        "机动车注册登记（新车上牌）",
        "企业设立登记（有限责任公司）",
    }
    only_dept = search.search_items("登记", division=mini.province, filters=Filters(department=mini.police_wuyuan.credit_code))
    assert names(only_dept) == ["出生登记（落户）"]


def test_empty_result_is_honest_and_suggests(mini):
    result = search.search_items("护照签证", division=mini.province)
    assert result.hits == []
    assert [i.name for i in result.popular][:1] == ["社会保障卡申领"]  # most used in scope
    # Nothing matches "护照签证", but services sharing characters are offered ("证" of 出生医学证明 …).
    result = search.search_items("签证登", division=mini.province)
    assert result.hits == []
    assert "出生登记（落户）" in [i.name for i in result.suggestions]


@pytest.mark.parametrize("bad", ["", "   ", "\x00\x01\x02"])
def test_empty_queries_get_a_clear_error(mini, bad):
    with pytest.raises(QueryEmpty) as info:
        search.search_items(bad, division=mini.province)
    assert info.value.code == "empty_query"
    assert "请输入" in info.value.message


def test_a_very_long_query_gets_a_clear_error(mini):
    with pytest.raises(QueryTooLong) as info:
        search.search_items("出" * 10_000, division=mini.province)
    assert "10000 个字" in info.value.message


@pytest.mark.parametrize(
    "hostile",
    ["' OR 1=1 --", '"出生" AND NOT x*', "出生); DROP TABLE catalog_baseitem; --", "NEAR(出生 登记)", "%_%", "\\", "出生\t登记\n"],
)
def test_sql_and_fts_syntax_is_just_text(mini, hostile):
    result = search.search_items(hostile, division=mini.province)
    assert isinstance(result.hits, list)
    assert search.search_items("出生登记", division=mini.province).hits  # tables intact


def test_index_follows_publish_and_withdraw_without_rebuild(mini):
    assert names(search.search_items("上牌", division=mini.province)) == ["机动车注册登记（新车上牌）"]
    catalog.base_item_set_status(actor=None, code=mini.car.code, status="withdrawn", reason="职能调整")
    assert search.search_items("上牌", division=mini.province).hits == []
    catalog.base_item_set_status(actor=None, code=mini.car.code, status="published")
    assert names(search.search_items("上牌", division=mini.province)) == ["机动车注册登记（新车上牌）"]
    f.published_item("070100004000", "临时居民身份证申领", [mini.police_donghu], aliases=["临时身份证"])
    assert names(search.search_items("临时身份证", division=mini.province))[0] == "临时居民身份证申领"


def test_new_synonym_takes_effect(mini):
    assert "社会保障卡申领" not in names(search.search_items("领卡", division=mini.province))
    catalog.synonym_set(actor=None, term="领卡", expansions=["社会保障卡"])
    assert names(search.search_items("领卡", division=mini.province))[0] == "社会保障卡申领"


def test_rolled_back_change_is_never_indexed(mini):
    try:
        with transaction.atomic():
            f.published_item("070100005000", "户口迁移", [mini.police_donghu], aliases=["迁户口"])
            raise RuntimeError("rollback")
    except RuntimeError:
        pass
    assert "户口迁移" not in names(search.search_items("迁户口", division=mini.province))
    assert "户口迁移" not in names(search.search_items("户口迁移", division=mini.province))
