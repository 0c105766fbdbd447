"""Records for the national platform's supervision exchange (全国一体化政务服务平台 办件信息交换),
built from what the case centre stores, so that a later issue only has to send them upward.

Five records per case, with the codes of STANDARDS.md (Cases):

- ``accept_record``   受理信息: the acceptance (step result 4 受理) or refusal (3 不予受理)
- ``process_records`` 办理过程: every step with its step result, handler, department, time, opinion
- ``special_records`` 特别程序: each special procedure (1 补齐补正, 2 听证, 3 公示, 4 核实, 5 挂起,
  6 预审补正) with its start, end and length in working days
- ``result_record``   办结信息: the conclusion code (0 出证办结 … 6 不予受理), when, and the reason
  (required for 1–5)
- ``material_records`` 材料信息: each material with its source and count

Field names are English snake_case; each one's comment names the Chinese exchange field. Times are
ISO 8601 in Asia/Shanghai, days are local dates. Pure reads: nothing here writes.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from tongban.cases import clock, machine
from tongban.cases.models import Case, CaseDocument, CaseEvent, CaseMaterial
from tongban.common.models import AuditEvent

LOCAL = ZoneInfo("Asia/Shanghai")
# 证件类型 of the national exchange's code table: 111 居民身份证.
ID_TYPE_RESIDENT_CARD = "111"
# The audit action the partner API writes for each step a department system takes (api/cases.py):
# the system, not a person, is the handler of that step.
API_ACTION = "case.api_action"
# Special procedures and the actions that end them.
SPECIAL_ENDS = {
    "suspend": {"resume"},
    "request_correction": {"resubmit", "refuse", "withdraw", "return_uncorrected"},
    "ask_supplement": {"supplemented", "withdraw", "return_uncorrected"},
}
# A conclusion the applicant chose needs no clerk's opinion: its reason is this.
DEFAULT_REASONS = {"withdraw": "申请人主动撤回申请"}
CONCLUDING_STATES = frozenset({machine.State.CONCLUDED, machine.State.DELIVERED, machine.State.REFUSED, machine.State.WITHDRAWN})
# 材料提交方式/来源 of a case's material (the platform's own codes, with their names).
MATERIAL_SOURCE_NAMES = dict(CaseMaterial.Source.choices)


def _time(value: dt.datetime | None) -> str | None:
    return timezone.localtime(value, LOCAL).isoformat() if value is not None else None


def _day(value: dt.datetime) -> dt.date:
    return timezone.localdate(value, LOCAL)


def _events(case: Case) -> list[CaseEvent]:
    return list(case.events.select_related("actor", "department").order_by("id"))


def _system_handlers(case: Case) -> dict[int, str]:
    """Which steps a department system took through the API: event id → the system's name."""
    rows = AuditEvent.objects.filter(action=API_ACTION, object_type="case", object_id=str(case.public_id)).values_list("after", flat=True)
    found: dict[int, str] = {}
    for after in rows:
        if isinstance(after, dict) and isinstance(after.get("event"), int):
            found[after["event"]] = str(after.get("client_name", ""))
    return found


def _handler(event: CaseEvent, systems: dict[int, str]) -> str:
    if event.pk in systems:
        return systems[event.pk]
    if event.actor is not None:
        return event.actor.display_name or event.actor.username
    if event.actor_kind == machine.Actor.SYSTEM:
        return "平台自动处理"
    return ""


def _label(action: str) -> str:
    transition = machine.TRANSITIONS.get(action)
    return transition.label if transition else action


def accept_record(case: Case) -> dict[str, Any] | None:
    """受理信息: None while the case waits for pre-review (nothing decided about acceptance yet)."""
    events = _events(case)
    decision = next((e for e in events if e.action in ("accept", "deem_accepted", "refuse")), None)
    if decision is None or not case.code:
        return None
    systems = _system_handlers(case)
    implementation = case.implementation
    department = decision.department or case.department
    applicant = case.applicant
    return {
        "case_code": case.code,  # 办件编号
        "item_code": implementation.base.code,  # 事项编码（基本编码）
        "item_name": implementation.base.name,  # 事项名称
        "implementation_code": implementation.code,  # 事项实施编码
        "department_code": department.credit_code if department else "",  # 受理部门统一社会信用代码
        "department_name": department.name if department else "",  # 受理部门名称
        "applicant_name": applicant.display_name or applicant.username,  # 申请人名称
        "applicant_id_type": ID_TYPE_RESIDENT_CARD if applicant.id_number_sealed else "",  # 申请人证件类型
        "applicant_id_number": applicant.id_number,  # 申请人证件号码
        "channel": case.channel,  # 申报渠道（0 窗口，1 网上）
        "submitted_at": _time(case.submitted_at),  # 申请时间
        "step_result": decision.step_result,  # 受理结果（4 受理，3 不予受理）
        "step_result_name": machine.STEP_RESULTS.get(decision.step_result or 0, ""),  # 受理结果名称
        "accepted_at": _time(decision.at),  # 受理（不予受理）时间
        "accepted_on": case.accepted_on.isoformat() if case.accepted_on else None,  # 受理日期（法定时限起算日）
        "deemed": decision.action == "deem_accepted",  # 视为受理（第三十二条）
        "handler": _handler(decision, systems),  # 受理人
        "opinion": decision.opinion,  # 受理意见 / 不予受理理由
        "legal_limit_days": case.legal_limit_days,  # 法定办结时限（工作日）
        "promised_limit_days": case.promised_limit_days,  # 承诺办结时限（工作日）
        "due_legal": case.due_legal.isoformat() if case.due_legal else None,  # 法定办结日期
        "due_promised": case.due_promised.isoformat() if case.due_promised else None,  # 承诺办结日期
    }


def process_records(case: Case) -> list[dict[str, Any]]:
    """办理过程: every step after the submission, in order (the submission is in the accept record)."""
    systems = _system_handlers(case)
    records = []
    for number, event in enumerate((e for e in _events(case) if e.action != "submit"), start=1):
        department = event.department or case.department
        records.append(
            {
                "case_code": case.code,  # 办件编号
                "sequence": number,  # 环节序号
                "step_code": event.action,  # 环节代码
                "step_name": _label(event.action),  # 环节名称
                "step_result": event.step_result,  # 办理结果代码（0 不同意 … 7 退回）
                "step_result_name": machine.STEP_RESULTS.get(event.step_result, "") if event.step_result is not None else "",  # 办理结果
                "special_step": event.special_step,  # 特别程序种类（进入特别程序的环节）
                "handler": _handler(event, systems),  # 办理人
                "handler_kind": event.actor_kind,  # 办理人类别（申请人、工作人员、系统）
                "department_code": department.credit_code if department else "",  # 办理部门统一社会信用代码
                "department_name": department.name if department else "",  # 办理部门名称
                "handled_at": _time(event.at),  # 办理时间
                "opinion": event.opinion,  # 办理意见
                "from_state": event.from_state,  # 办理前状态
                "to_state": event.to_state,  # 办理后状态
            }
        )
    return records


def special_records(case: Case) -> list[dict[str, Any]]:
    """特别程序: each procedure from the step that started it to the step that ended it; one still
    running has no end and no length yet."""
    records: list[dict[str, Any]] = []
    open_ones: list[tuple[CaseEvent, dict[str, Any]]] = []
    for event in _events(case):
        for started, record in list(open_ones):
            if event.action in SPECIAL_ENDS[started.action]:
                record["ended_at"] = _time(event.at)
                record["end_step"] = event.action
                record["result"] = event.opinion or _label(event.action)
                record["days"] = clock.suspended_days(_day(started.at), _day(event.at))
                open_ones.remove((started, record))
        if event.action in SPECIAL_ENDS and event.special_step is not None:
            record = {
                "case_code": case.code,  # 办件编号
                "kind": event.special_step,  # 特别程序种类代码（1 补齐补正 … 6 预审补正）
                "kind_name": machine.SPECIAL_STEPS[event.special_step],  # 特别程序种类名称
                "started_at": _time(event.at),  # 特别程序开始时间
                "reason": event.opinion,  # 特别程序启动理由或依据
                "ended_at": None,  # 特别程序结束时间
                "end_step": None,
                "result": "",  # 特别程序结果
                "days": None,  # 特别程序时长（工作日）
                "clock_stops": event.action == "suspend",  # 是否计入办理时限（§45：不计入）
            }
            records.append(record)
            open_ones.append((event, record))
    return records


def result_record(case: Case) -> dict[str, Any] | None:
    """办结信息: None until the case has ended (办结, 送达, 不予受理, 撤回/退件)."""
    if case.conclusion is None or machine.State(case.state) not in CONCLUDING_STATES:
        return None
    events = _events(case)
    deciding = [e for e in events if e.conclusion is not None][-1]
    ending = next((e for e in reversed(events) if e.action in ("conclude", "refuse", "withdraw", "return_uncorrected")), deciding)
    delivered = next((e for e in reversed(events) if e.action == "deliver"), None)
    reason = deciding.opinion or DEFAULT_REASONS.get(deciding.action, "")
    department = ending.department or case.department
    documents = list(case.documents.filter(kind=CaseDocument.Kind.RESULT).order_by("id").values_list("title", flat=True))
    return {
        "case_code": case.code,  # 办件编号
        "conclusion": case.conclusion,  # 办结结果代码（0 出证办结 … 6 不予受理）
        "conclusion_name": machine.CONCLUSIONS[case.conclusion],  # 办结结果名称
        "reason": reason,  # 不予许可/作废/删除/转报/退件的理由（1–5 必填）
        "decided_at": _time(deciding.at),  # 决定时间
        "concluded_at": _time(ending.at),  # 办结时间
        "department_code": department.credit_code if department else "",  # 办结部门统一社会信用代码
        "department_name": department.name if department else "",  # 办结部门名称
        "result_documents": documents,  # 结果文书名称
        "delivered_at": _time(delivered.at) if delivered else None,  # 送达时间
        "delivery_method": case.delivery_method,  # 送达方式（1 电子，2 窗口领取，3 邮寄）
    }


def material_records(case: Case) -> list[dict[str, Any]]:
    """材料信息: one record per material of the case (name and source), with how many files or
    pieces were given for it."""
    grouped: OrderedDict[tuple[Any, str, str], dict[str, Any]] = OrderedDict()
    for material in case.materials.order_by("id"):
        key = (material.material_id, material.name, material.source)
        record = grouped.get(key)
        if record is None:
            record = {
                "case_code": case.code,  # 办件编号
                "name": material.name,  # 材料名称
                "source": material.source,  # 材料来源（提交方式）代码
                "source_name": MATERIAL_SOURCE_NAMES.get(material.source, material.source),  # 材料来源名称
                "licence_type": material.licence_type,  # 电子证照类型（免提交时）
                "count": 0,  # 材料份数
            }
            grouped[key] = record
        record["count"] += 1
    return list(grouped.values())


def exchange_records(case: Case) -> dict[str, Any]:
    """All five records of one case, as the later upward exchange sends them."""
    return {
        "accept": accept_record(case),
        "process": process_records(case),
        "special": special_records(case),
        "result": result_record(case),
        "materials": material_records(case),
    }
