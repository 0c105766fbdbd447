"""One account library: bring the people of a department system's own user table into the platform
(docs/accounts-import.md).

Rows (CSV or JSON) carry a name, an ID number, optionally a mobile number, an e-mail address and
the user's id in the department system. People are matched by ID number through its blind index:

- a person the platform does not know is created (no password: they sign in with their mobile
  number later), at real-name level L1 when a mobile number is given (the department verified it),
  else at level 0;
- a person it knows is completed only where the platform has no value yet; what the platform
  holds is never overwritten;
- a row that conflicts with what the platform holds — an invalid ID number, the same ID number
  with another mobile number already verified, a mobile number that belongs to someone else, a
  different name — is reported with its line and nothing of it is written; the other rows are.

Nothing is ever created twice and a second run of the same file reports every row unchanged.
A dry run goes through exactly the same steps and rolls everything back. Every written row is
audited (masked), and a person whose real-name level changes gets a ``RealNameEvent`` with the
method ``import``.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from tongban.common.audit import audit_record
from tongban.common.codes import is_valid_ric
from tongban.common.crypto import blind_index
from tongban.common.errors import ValidationFailed
from tongban.common.masking import mask_id_number, mask_mobile, mask_name
from tongban.identity.models import Account, RealNameEvent, RealNameLevel

FORMAT = "tongban-accounts/1"
MAX_ROWS = 50_000
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
# Column names accepted (English keys as in JSON, or the Chinese labels department exports use).
COLUMNS = {
    "name": ("name", "姓名"),
    "id_number": ("id_number", "公民身份号码", "身份证号", "身份证号码"),
    "mobile": ("mobile", "手机号", "手机号码"),
    "email": ("email", "电子邮箱", "邮箱"),
    "source_user_id": ("source_user_id", "原系统用户编号", "用户编号"),
}
ALIASES = {alias: key for key, aliases in COLUMNS.items() for alias in aliases}
REQUIRED = ("name", "id_number")

CREATED, UPDATED, UNCHANGED, CONFLICT = "created", "updated", "unchanged", "conflict"
STATUS_LABELS = {CREATED: "新建", UPDATED: "补全", UNCHANGED: "无变化", CONFLICT: "冲突"}  # a conflicting row is never written


@dataclass
class RowResult:
    line: int
    status: str
    name: str = ""  # masked
    id_number: str = ""  # masked
    source_user_id: str = ""
    messages: list[str] = field(default_factory=list)
    level_to: int | None = None

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    rows: list[RowResult] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUS_LABELS, 0)
        for row in self.rows:
            counts[row.status] += 1
        return counts

    @property
    def conflicts(self) -> list[RowResult]:
        return [row for row in self.rows if row.status == CONFLICT]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dry_run": self.dry_run,
            "counts": self.counts,
            "rows": [
                {
                    "line": r.line,
                    "status": r.status,
                    "name": r.name,
                    "id_number": r.id_number,
                    "source_user_id": r.source_user_id,
                    "messages": r.messages,
                }
                for r in self.rows
            ],
        }


# --- reading the file ---------------------------------------------------------------------------


def _decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # department exports are often GBK
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed("文件编码无法识别，请保存为 UTF-8 编码的 CSV 或 JSON。", code="bad_encoding")


def _normalise_keys(raw: dict[Any, Any], where: str) -> dict[str, str]:
    row: dict[str, str] = {}
    unknown = []
    for key, value in raw.items():
        name = ALIASES.get(str(key).strip())
        if name is None:
            unknown.append(str(key))
            continue
        row[name] = "" if value is None else str(value).strip()
    if unknown:
        raise ValidationFailed(f"{where}有无法识别的列：{'、'.join(unknown)}。可用的列见导入说明。", code="unknown_column")
    return row


def parse(content: bytes) -> list[tuple[int, dict[str, str]]]:
    """Rows with their line (CSV: the file's line; JSON: the record's number from 1). The type is
    recognised from the content, never from a file name."""
    text = _decode(content).lstrip("\ufeff")
    stripped = text.lstrip()
    if not stripped:
        raise ValidationFailed("文件是空的。", code="empty_file")
    rows: list[tuple[int, dict[str, str]]] = []
    if stripped[0] in "[{":
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(f"JSON 格式错误（第 {exc.lineno} 行第 {exc.colno} 列），请检查文件。", code="bad_json") from exc
        if isinstance(data, dict):
            if data.get("format", FORMAT) != FORMAT:
                raise ValidationFailed(f"不支持的格式“{data.get('format')}”，应为 {FORMAT}。", code="bad_format")
            data = data.get("rows")
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ValidationFailed("JSON 文件应是对象数组，或带 rows 数组的对象。", code="bad_json")
        for number, raw in enumerate(data, start=1):
            rows.append((number, _normalise_keys(raw, f"第 {number} 条记录")))
    else:
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in reader.fieldnames or []]
        unknown = [h for h in header if h not in ALIASES]
        if unknown:
            raise ValidationFailed(f"表头有无法识别的列：{'、'.join(unknown)}。可用的列见导入说明。", code="unknown_column")
        present = {ALIASES[h] for h in header}
        missing = [COLUMNS[key][1] for key in REQUIRED if key not in present]
        if missing:
            raise ValidationFailed(f"表头缺少必需的列：{'、'.join(missing)}。", code="missing_column")
        for raw in reader:
            extra = raw.pop(None, None)  # type: ignore[call-overload]
            if extra:
                raise ValidationFailed(f"第 {reader.line_num} 行的列数比表头多，请检查是否有多余的逗号。", code="extra_cells")
            if not any((v or "").strip() for v in raw.values()):
                continue  # blank line
            rows.append((reader.line_num, {ALIASES[k.strip()]: (v or "").strip() for k, v in raw.items()}))
    if len(rows) > MAX_ROWS:
        raise ValidationFailed(f"一次最多导入 {MAX_ROWS} 行，请拆分文件。", code="too_many_rows")
    return rows


# --- merging ------------------------------------------------------------------------------------


def _username_for(id_index: str) -> str:
    """A username that reveals nothing (derived from the keyed blind index) and is stable."""
    return f"p_{id_index[:16]}"


def _level_change(*, account: Account, level: int, actor: Any, source: str) -> None:
    if level == account.real_name_level:
        return
    RealNameEvent.objects.create(
        account=account,
        level_from=account.real_name_level,
        level_to=level,
        method=RealNameEvent.Method.IMPORT,
        provider_reference=source[:100],
        recorded_by=actor if getattr(actor, "pk", None) else None,
    )
    account.real_name_level = level


def _merge_row(
    *, actor: Any, source: str, line: int, row: dict[str, str], seen_ids: dict[str, int], seen_mobiles: dict[str, str]
) -> RowResult:
    name = row.get("name", "")
    id_number = row.get("id_number", "").upper()
    mobile = row.get("mobile", "").replace(" ", "").replace("-", "")
    email = row.get("email", "")
    result = RowResult(
        line=line,
        status=CONFLICT,
        name=mask_name(name),
        id_number=mask_id_number(id_number),
        source_user_id=row.get("source_user_id", "")[:100],
    )
    problems = result.messages
    if not name:
        problems.append("缺少姓名。")
    elif len(name) > 64:
        problems.append("姓名超过 64 个字。")
    if not id_number:
        problems.append("缺少公民身份号码。")
    elif not is_valid_ric(id_number):
        problems.append("公民身份号码校验未通过（位数、出生日期或校验码不对），请核对原系统的数据。")
    if mobile and not MOBILE.match(mobile):
        problems.append("手机号码格式不正确，应为 11 位中国大陆手机号。")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            problems.append("电子邮箱格式不正确。")
    if problems:
        return result
    id_index = blind_index(id_number, kind="id_number")
    mobile_index = blind_index(mobile, kind="mobile") if mobile else ""
    if id_index in seen_ids:
        problems.append(f"与第 {seen_ids[id_index]} 行的公民身份号码重复。")
        return result
    seen_ids[id_index] = line
    if mobile_index:
        if seen_mobiles.get(mobile_index, id_index) != id_index:
            problems.append("本文件中已有另一人使用这个手机号码。")
            return result
        seen_mobiles[mobile_index] = id_index

    matches = list(Account.objects.select_for_update().filter(id_number_index=id_index)[:2])
    if len(matches) > 1:
        problems.append("平台上有多个账号使用这个公民身份号码，请联系平台运营人员人工处理。")
        return result
    person = matches[0] if matches else None
    if person is not None and person.kind != Account.Kind.CITIZEN:
        problems.append("这个公民身份号码属于工作人员账号，不能作为自然人导入。")
        return result
    if mobile_index:
        owners = Account.objects.filter(mobile_index=mobile_index)
        if person is not None:
            owners = owners.exclude(pk=person.pk)
        if owners.exists():
            problems.append("这个手机号码已属于平台上的另一人。")
    if person is not None:
        if mobile and person.mobile_verified_at and person.mobile_sealed and person.mobile != mobile:
            problems.append(f"平台已核验的手机号码（{mask_mobile(person.mobile)}）与导入的不同。")
        if person.display_name and person.display_name != name:
            problems.append(f"姓名与平台记录（{mask_name(person.display_name)}）不一致。")
    if problems:
        return result

    now = timezone.now()
    if person is None:
        person = Account(username=_username_for(id_index), kind=Account.Kind.CITIZEN, display_name=name, email=email)
        person.set_unusable_password()
        person.id_number = id_number
        if mobile:
            person.mobile = mobile
            person.mobile_verified_at = now
        person.save()
        level = RealNameLevel.L1 if mobile else RealNameLevel.NONE
        _level_change(account=person, level=level, actor=actor, source=source)
        if person.real_name_level:
            person.save(update_fields=["real_name_level"])
        changed = ["name", "id_number", *(["mobile"] if mobile else []), *(["email"] if email else [])]
        result.status = CREATED
    else:
        changed = []
        if not person.display_name:
            person.display_name = name
            changed.append("name")
        if mobile and not person.mobile_sealed:
            person.mobile = mobile
            person.mobile_verified_at = now
            changed.append("mobile")
            _level_change(account=person, level=max(person.real_name_level, RealNameLevel.L1), actor=actor, source=source)
        if email and not person.email:
            person.email = email
            changed.append("email")
        if not changed:
            result.status = UNCHANGED
            result.level_to = person.real_name_level
            return result
        person.save()
        result.status = UPDATED
    result.level_to = person.real_name_level
    audit_record(
        actor=actor,
        action="account.import",
        object_type="account",
        object_id=str(person.public_id),
        after={
            "status": result.status,
            "source": source,
            "source_user_id": result.source_user_id,
            "fields": changed,
            "name": mask_name(name),
            "id_number": mask_id_number(id_number),
            "mobile": mask_mobile(mobile) if "mobile" in changed else None,
            "real_name_level": person.real_name_level,
        },
    )
    return result


def import_rows(*, actor: Any, rows: list[tuple[int, dict[str, str]]], source: str, dry_run: bool = False) -> ImportReport:
    source = (source or "").strip()[:100]
    if not source:
        raise ValidationFailed("请填写来源系统名称（例如“南昌市不动产登记系统”）。", code="source_required")
    report = ImportReport(source=source, dry_run=dry_run)
    seen_ids: dict[str, int] = {}
    seen_mobiles: dict[str, str] = {}
    with transaction.atomic():
        for line, row in rows:
            try:
                with transaction.atomic():  # a row that fails half-way leaves nothing behind
                    result = _merge_row(actor=actor, source=source, line=line, row=row, seen_ids=seen_ids, seen_mobiles=seen_mobiles)
            except IntegrityError:
                result = RowResult(line=line, status=CONFLICT, messages=["与同时进行的其他修改冲突，请重新导入这一行。"])
            report.rows.append(result)
        if dry_run:
            transaction.set_rollback(True)
        else:
            audit_record(
                actor=actor,
                action="accounts.import",
                object_type="account_import",
                object_id=source,
                after={"rows": len(report.rows), **report.counts},
            )
    return report


def accounts_import(*, actor: Any, content: bytes, source: str, dry_run: bool = False) -> ImportReport:
    """Read a CSV or JSON file of a department's users and merge it into the account library."""
    return import_rows(actor=actor, rows=parse(content), source=source, dry_run=dry_run)
