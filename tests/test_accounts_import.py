"""The account import: a department system's users merged into the account library by ID number,
through the service, the command and the console page, against the real database."""

from __future__ import annotations

import io
import json
from html import unescape

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from stdnum.cn import ric

from tongban.common.crypto import blind_index
from tongban.common.errors import ValidationFailed
from tongban.common.models import AuditEvent
from tongban.identity import services as identity
from tongban.identity.accounts_import import accounts_import, parse
from tongban.identity.models import Account, RealNameEvent


def with_check(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")  # stdnum expects a placeholder for the check character


NEW_WITH_MOBILE = with_check("36010219900101123")
NEW_WITHOUT_MOBILE = with_check("36010219910202234")
ZHANG = "11010519491231002X"  # the `citizen` persona, mobile 13812345678 (not verified)
LI = "360102198803150026"  # `other_citizen`, mobile 13987654321


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def csv_bytes(*rows: str, header: str = "name,id_number,mobile,email,source_user_id") -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def person(id_number: str) -> Account | None:
    return Account.objects.filter(id_number_index=blind_index(id_number, kind="id_number")).first()


def counts() -> tuple[int, int, int]:
    return Account.objects.count(), AuditEvent.objects.count(), RealNameEvent.objects.count()


def test_new_people_are_created_at_l1_with_a_mobile_else_level_0(db):
    content = csv_bytes(
        f"王小二,{NEW_WITH_MOBILE},13700001111,wang@example.cn,U-001",
        f"刘大,{NEW_WITHOUT_MOBILE},,,U-002",
    )
    report = accounts_import(actor=None, content=content, source="南昌市不动产登记系统")
    assert report.counts == {"created": 2, "updated": 0, "unchanged": 0, "conflict": 0}
    wang = person(NEW_WITH_MOBILE)
    assert wang.kind == "citizen" and wang.display_name == "王小二" and wang.email == "wang@example.cn"
    assert wang.mobile == "13700001111" and wang.mobile_verified_at is not None
    assert wang.real_name_level == 1 and not wang.has_usable_password()
    assert NEW_WITH_MOBILE not in wang.username and "137" not in wang.username  # nothing personal in the username
    event = RealNameEvent.objects.get(account=wang)
    assert (event.level_from, event.level_to, event.method, event.provider_reference) == (0, 1, "import", "南昌市不动产登记系统")
    liu = person(NEW_WITHOUT_MOBILE)
    assert liu.real_name_level == 0 and liu.mobile_sealed == ""
    assert not RealNameEvent.objects.filter(account=liu).exists()  # the level did not change
    audit = AuditEvent.objects.get(action="account.import", object_id=str(wang.public_id))
    assert audit.after["source_user_id"] == "U-001" and audit.after["status"] == "created"
    assert NEW_WITH_MOBILE not in json.dumps(audit.after, ensure_ascii=False) and "13700001111" not in json.dumps(audit.after)
    summary = AuditEvent.objects.get(action="accounts.import")
    assert summary.after["created"] == 2


def test_known_people_are_completed_only_where_the_platform_has_no_value(citizen):
    bare = identity.citizen_account_upsert(
        actor=None, username="bare", password="市民-测试-密码-2026", display_name="", id_number=NEW_WITH_MOBILE
    )
    content = csv_bytes(
        f"张晓明,{ZHANG},13812345678,other@example.cn,U-9",  # everything known: nothing to add
        f"赵六,{NEW_WITH_MOBILE},13700002222,zhao@example.cn,U-10",  # name, mobile and e-mail missing on the platform
    )
    report = accounts_import(actor=None, content=content, source="部门系统")
    assert [r.status for r in report.rows] == ["unchanged", "updated"]
    citizen.refresh_from_db()
    assert citizen.email == "zhangxm@example.cn"  # never overwritten
    bare.refresh_from_db()
    assert (bare.display_name, bare.mobile, bare.email, bare.real_name_level) == ("赵六", "13700002222", "zhao@example.cn", 1)
    assert RealNameEvent.objects.get(account=bare).method == "import"
    assert not RealNameEvent.objects.filter(account=citizen).exists()
    assert Account.objects.filter(kind="citizen").count() == 2  # nobody duplicated


def test_conflicting_rows_are_reported_one_by_one_and_nothing_of_them_is_written(citizen, other_citizen):
    Account.objects.filter(pk=citizen.pk).update(mobile_verified_at=timezone.now())
    bad_check = NEW_WITH_MOBILE[:-1] + ("0" if NEW_WITH_MOBILE[-1] != "0" else "1")
    content = csv_bytes(
        f"张晓明,{ZHANG},13700003333,,A1",  # line 2: another mobile than the verified one
        f"新人甲,{NEW_WITH_MOBILE},13987654321,,A2",  # line 3: 李红's mobile
        f"新人乙,{bad_check},13700004444,,A3",  # line 4: check digit
        f"李白,{LI},,,A4",  # line 5: another name than the platform's
        f"刘大,{NEW_WITHOUT_MOBILE},13700005555,,A5",  # line 6: fine
        f"刘大,{NEW_WITHOUT_MOBILE},13700005555,,A6",  # line 7: the same person twice in the file
        f"钱七,{with_check('36010219920303345')},13700005555,,A7",  # line 8: line 6's mobile for someone else
        f"孙八,{with_check('36010219930404456')},1234,,A8",  # line 9: not a mobile number
    )
    accounts, audits, events = counts()
    report = accounts_import(actor=None, content=content, source="部门系统")
    by_line = {r.line: r for r in report.rows}
    assert {line: r.status for line, r in by_line.items()} == {
        2: "conflict",
        3: "conflict",
        4: "conflict",
        5: "conflict",
        6: "created",
        7: "conflict",
        8: "conflict",
        9: "conflict",
    }
    assert "已核验的手机号码（138****5678）与导入的不同" in by_line[2].messages[0]
    assert by_line[3].messages == ["这个手机号码已属于平台上的另一人。"]
    assert "校验未通过" in by_line[4].messages[0]
    assert "姓名与平台记录" in by_line[5].messages[0]
    assert by_line[7].messages == ["与第 6 行的公民身份号码重复。"]
    assert by_line[8].messages == ["本文件中已有另一人使用这个手机号码。"]
    assert "手机号码格式不正确" in by_line[9].messages[0]
    assert by_line[2].id_number == "110105********002X"  # masked in the report
    # Only line 6 was written: one account, its level event, its audit row and the run's summary.
    assert counts() == (accounts + 1, audits + 2, events + 1)
    citizen.refresh_from_db()
    assert citizen.mobile == "13812345678"
    assert person(NEW_WITH_MOBILE) is None and person(bad_check) is None


def test_a_second_run_changes_nothing_and_reports_everything_unchanged(citizen):
    content = csv_bytes(
        f"王小二,{NEW_WITH_MOBILE},13700001111,wang@example.cn,U-001",
        f"刘大,{NEW_WITHOUT_MOBILE},,,U-002",
        f"张晓明,{ZHANG},,,U-003",
    )
    first = accounts_import(actor=None, content=content, source="部门系统")
    assert first.counts["created"] == 2
    accounts, _audits, events = counts()
    imports = AuditEvent.objects.filter(action="account.import").count()
    second = accounts_import(actor=None, content=content, source="部门系统")
    assert second.counts == {"created": 0, "updated": 0, "unchanged": 3, "conflict": 0}
    assert counts()[0] == accounts and counts()[2] == events
    assert AuditEvent.objects.filter(action="account.import").count() == imports


def test_a_dry_run_writes_nothing_and_reports_what_a_run_would_do(citizen):
    content = csv_bytes(f"王小二,{NEW_WITH_MOBILE},13700001111,,U-001", f"张晓明,{ZHANG},,,U-003", f"坏,{NEW_WITH_MOBILE[:-1]},,,U-4")
    before = counts()
    dry = accounts_import(actor=None, content=content, source="部门系统", dry_run=True)
    assert counts() == before
    assert person(NEW_WITH_MOBILE) is None
    real = accounts_import(actor=None, content=content, source="部门系统")
    assert [(r.line, r.status, r.messages) for r in dry.rows] == [(r.line, r.status, r.messages) for r in real.rows]
    assert dry.dry_run and not real.dry_run


def test_json_gbk_and_chinese_column_names(db):
    json_rows = {
        "format": "tongban-accounts/1",
        "rows": [{"name": "王小二", "id_number": NEW_WITH_MOBILE.lower(), "mobile": "137 0000 1111"}],
    }
    report = accounts_import(actor=None, content=json.dumps(json_rows, ensure_ascii=False).encode(), source="json")
    assert report.counts["created"] == 1 and person(NEW_WITH_MOBILE).mobile == "13700001111"
    gbk = f"姓名,公民身份号码,手机号码,电子邮箱,原系统用户编号\r\n刘大,{NEW_WITHOUT_MOBILE},,,9\r\n".encode("gb18030")
    report = accounts_import(actor=None, content=gbk, source="gbk")
    assert report.counts["created"] == 1 and person(NEW_WITHOUT_MOBILE).display_name == "刘大"
    bom = f"\ufeffname,id_number\n刘大,{NEW_WITHOUT_MOBILE}\n".encode()
    assert accounts_import(actor=None, content=bom, source="bom").counts["unchanged"] == 1


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"name,id_number,phone\n", "unknown_column"),
        (b"name,mobile\n", "missing_column"),
        (b"[{]", "bad_json"),
        (b'{"format": "other/1", "rows": []}', "bad_format"),
        (b'[{"name": "x", "nickname": "y"}]', "unknown_column"),
        (b"name,id_number\na,b,c\n", "extra_cells"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(db, content, code):
    with pytest.raises(ValidationFailed) as refused:
        accounts_import(actor=None, content=content, source="x")
    assert refused.value.code == code
    assert not Account.objects.exists() and not AuditEvent.objects.exists()


def test_blank_lines_are_skipped_and_lines_keep_their_numbers(db):
    rows = parse(csv_bytes("", f"刘大,{NEW_WITHOUT_MOBILE},,,"))
    assert [line for line, _row in rows] == [3]


def test_the_command(citizen, tmp_path):
    path = tmp_path / "users.csv"
    path.write_bytes(csv_bytes(f"王小二,{NEW_WITH_MOBILE},13700001111,,U-001", f"张晓明,{ZHANG},,,U-003"))
    out = io.StringIO()
    call_command("accounts_import", str(path), "--dry-run", stdout=out)
    assert "试导入（未写入）：新建 1，补全 0，无变化 1，冲突 0" in out.getvalue()
    assert person(NEW_WITH_MOBILE) is None
    out = io.StringIO()
    call_command("accounts_import", str(path), "--source", "南昌市不动产登记系统", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert report["counts"]["created"] == 1 and report["source"] == "南昌市不动产登记系统"
    assert person(NEW_WITH_MOBILE) is not None
    path.write_bytes(csv_bytes(f"坏,{NEW_WITH_MOBILE[:-1]}0,,,"))
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 行有冲突"):
        call_command("accounts_import", str(path), stdout=out)
    assert "第 2 行" in out.getvalue()


def test_the_console_page(mini, operator, clerk):
    browser = Client()
    browser.force_login(operator)
    assert browser.get("/console/identity/accounts-import").status_code == 200
    upload = SimpleUploadedFile("users.txt", csv_bytes(f"王小二,{NEW_WITH_MOBILE},13700001111,,U-1", f"坏,{NEW_WITH_MOBILE[:-1]}0,,,U-2"))
    response = browser.post("/console/identity/accounts-import", {"file": upload, "source": "部门系统", "dry_run": "on"})
    page = unescape(response.content.decode())
    assert response.status_code == 200
    assert "试导入结果（未写入）" in page and "校验未通过" in page
    assert NEW_WITH_MOBILE not in page  # masked
    assert person(NEW_WITH_MOBILE) is None
    upload = SimpleUploadedFile("users.csv", csv_bytes(f"王小二,{NEW_WITH_MOBILE},13700001111,,U-1"))
    response = browser.post("/console/identity/accounts-import", {"file": upload, "source": "部门系统"})
    assert response.status_code == 200 and "导入结果" in unescape(response.content.decode())
    assert person(NEW_WITH_MOBILE).real_name_level == 1
    bad = SimpleUploadedFile("users.csv", b"name,phone\n")
    response = browser.post("/console/identity/accounts-import", {"file": bad, "source": "部门系统"})
    assert response.status_code == 422 and "无法识别的列" in unescape(response.content.decode())
    clerk_browser = Client()
    clerk_browser.force_login(clerk)
    upload = SimpleUploadedFile("users.csv", csv_bytes(f"刘大,{NEW_WITHOUT_MOBILE},,,"))
    assert clerk_browser.post("/console/identity/accounts-import", {"file": upload, "source": "x"}).status_code == 403
    assert person(NEW_WITHOUT_MOBILE) is None
