"""我的办件 in plain words: what a case's timeline, clock and open requests mean for the person who
applied (and, without personal data, for someone following it by code and query password), and
the list of their cases with a one-thing-done-once bundle as one entry.

Pure presentation over cases.models and cases.machine: no rule lives here; states, limits and
reasons come from the case and its events as the services recorded them. No internal code (step
result, conclusion, special-step number) reaches the page."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from tongban.cases import clock, machine
from tongban.cases import selectors as case_reads
from tongban.cases import services as case_services
from tongban.cases.models import BundleApplication, Case, CaseEvent
from tongban.common.errors import DomainError
from tongban.common.pagination import decode_cursor

LOCAL = ZoneInfo("Asia/Shanghai")
S = machine.State

# What the timeline calls each step, in words a person uses.
TITLES = {
    "submit": "提交申请",
    "request_correction": "一次性告知补正",
    "resubmit": "提交补正材料",
    "accept": "受理",
    "deem_accepted": "视为受理",
    "refuse": "不予受理",
    "ask_supplement": "要求补齐材料",
    "supplemented": "提交补齐材料",
    "suspend": "进入特别程序",
    "resume": "特别程序结束",
    "extend": "延长办理期限",
    "approve": "准予许可",
    "deny": "不予许可",
    "conclude": "办结",
    "deliver": "送达",
    "withdraw": "撤回申请",
    "return_uncorrected": "退件",
}
# Special procedures a suspension names (行政许可法 §45), as a person calls them.
PROCEDURES = {2: "听证", 3: "公示", 4: "现场核实", 5: "检验、检测、鉴定或专家评审等"}
# The four stages a case passes, for the progress shown in the list and on the case.
STAGES = ("提交申请", "受理", "审查决定", "办结")
STAGE_OF = {
    S.SUBMITTED: 1,
    S.CORRECTING: 1,
    S.ACCEPTED: 2,
    S.SUPPLEMENTING: 2,
    S.SUSPENDED: 2,
    S.DECIDED: 3,
    S.CONCLUDED: 4,
    S.DELIVERED: 4,
}
DONE = frozenset({S.CONCLUDED, S.DELIVERED})
ENDED = frozenset({S.REFUSED, S.WITHDRAWN})
WITHDRAW_REASONS = ("信息填写有误，需要重新申请", "不再需要办理", "改为到窗口办理", "其他原因")


def day_text(day: dt.date | None) -> str:
    """12月18日, or 2027年1月5日 when not this year."""
    if day is None:
        return ""
    this_year = timezone.localdate(timezone.now(), LOCAL).year
    return f"{day.month}月{day.day}日" if day.year == this_year else f"{day.year}年{day.month}月{day.day}日"


def _due(start: dt.date | None, days: int) -> dt.date | None:
    """A limit counted in working days; None when the calendar does not know the year yet (a
    deadline is a legal fact and is never guessed)."""
    if start is None or days <= 0:
        return None
    try:
        return clock.due(start, days)
    except DomainError:
        return None


def department_name(case: Case) -> str:
    department = case.department if case.department_id else None
    return department.name if department is not None else "办理部门"


def stage(case: Case) -> dict[str, Any] | None:
    """第 n 步，共 4 步 and the stage's name; None for a draft or a case that ended without a result."""
    n = STAGE_OF.get(S(case.state))
    if n is None:
        return None
    return {"n": n, "of": len(STAGES), "name": STAGES[n - 1], "stages": STAGES}


# --- the timeline -------------------------------------------------------------------------------------


def timeline(case: Case, *, public: bool = False) -> list[dict[str, Any]]:
    """The case's steps in plain Chinese, oldest first. ``public`` is the view of someone following
    the case by code and password: the applicant is 申请人 and no reason or note is shown (they may
    carry personal data)."""
    events = list(CaseEvent.objects.filter(case=case).order_by("at", "id"))
    department = department_name(case)
    rows = []
    for event in events:
        title = TITLES.get(event.action, "办理进展")
        who, text = _explain(case, event, department, public=public)
        rows.append({"at": event.at, "who": who, "title": title, "heading": f"{who}：{title}", "text": text})
    return rows


def _explain(case: Case, event: CaseEvent, department: str, *, public: bool) -> tuple[str, str]:
    you = "申请人" if public else "您"
    your = "" if public else "您的"
    reason = "" if public else event.opinion.strip()
    because = f"理由：{reason}" if reason else ""
    action = event.action
    by_system = event.actor_kind == machine.Actor.SYSTEM or (event.actor_kind == machine.Actor.APPLICANT and event.actor_id is None)
    who = "系统" if by_system else you if event.actor_kind == machine.Actor.APPLICANT else department
    if action == "submit":
        return who, f"{your}申请已提交，等待{department}预审。"
    if action == "request_correction":
        tail = "" if public else "请按下方的补正告知准备材料，补正后重新提交。"
        return who, f"{department}审核后发现材料需要补正，已一次性告知全部补正内容。{tail}"
    if action == "resubmit":
        return who, f"{you}已提交补正材料，等待{department}重新预审。"
    if action in ("accept", "deem_accepted"):
        accepted = case.accepted_on or timezone.localdate(event.at, LOCAL)
        legal = _due(accepted, case.legal_limit_days)
        limit = f"，法定办结期限至{day_text(legal)}" if legal else ""
        if action == "deem_accepted":
            return who, f"{department}未在五个工作日内告知补正，依法视为自收到材料之日起受理{limit}。"
        return who, f"{your}申请已由{department}受理{limit}。"
    if action == "refuse":
        return who, f"{department}决定不予受理。{because}"
    if action == "ask_supplement":
        asked = f"需要补齐的内容：{reason}。" if reason else ""
        return who, f"{department}要求补齐材料。{asked}"
    if action == "supplemented":
        return who, f"{you}已提交补齐的材料。"
    if action == "suspend":
        procedure = PROCEDURES.get(event.special_step or 5, PROCEDURES[5])
        note = f"说明：{reason}" if reason else ""
        return who, f"进入特别程序（{procedure}），所需时间不计入办理期限，办结期限相应顺延。{note}"
    if action == "resume":
        return who, "特别程序结束，恢复计时。"
    if action == "extend":
        return who, f"经批准，办理期限延长 {clock.EXTENSION_DAYS} 个工作日。{because}"
    if action == "approve":
        return who, f"{department}作出准予许可的决定。"
    if action == "deny":
        return who, f"{department}作出不予许可的决定。{because}"
    if action == "conclude":
        return who, "办理完毕。" + delivery_sentence(case, public=public)
    if action == "deliver":
        return who, "办理结果已送达。"
    if action == "withdraw":
        if by_system:
            return "系统", f"因前置事项未通过，本事项已自动撤回。{reason}"
        return who, f"{you}撤回了申请。" + (f"原因：{reason}" if reason else "")
    if action == "return_uncorrected":
        return who, f"未在规定期限内补齐补正，{department}依法退回申请。{because}"
    return who, ""


def delivery_sentence(case: Case, *, public: bool = False) -> str:
    method = case.delivery_method
    if method == Case.Delivery.WINDOW:
        impl = case.implementation
        return f"请到{impl.place}领取办理结果（{impl.hours}）。"
    if method == Case.Delivery.COURIER:
        return "办理结果将邮寄送达。" if public else "办理结果将邮寄到您填写的地址。"
    return "办理结果以电子方式送达。" if public else "办理结果以电子方式送达，可在办件详情中查看和下载。"


# --- the clock ----------------------------------------------------------------------------------------


def clock_lines(case: Case) -> list[str]:
    """The limits that matter to the applicant now, as sentences."""
    state = S(case.state)
    department = department_name(case)
    lines: list[str] = []
    if state == S.SUBMITTED:
        try:
            deadline = case_services.pre_review_deadline(case)
        except DomainError:
            deadline = None
        if deadline is not None:
            lines.append(f"{department}将在{day_text(deadline)}前完成预审；逾期未告知补正的，视为受理。")
    elif state == S.CORRECTING:
        lines.append("补正期间暂不计时。提交补正材料后，重新开始预审。")
    elif state in (S.ACCEPTED, S.SUPPLEMENTING, S.SUSPENDED):
        if case.due_promised and case.promised_limit_days:
            lines.append(f"承诺 {case.promised_limit_days} 个工作日内办结，预计{day_text(case.due_promised)}前。")
        if case.due_legal:
            lines.append(f"法定办结期限：{day_text(case.due_legal)}。")
        if case.extension_days:
            lines.append(f"已依法批准延长 {case.extension_days} 个工作日（已计入上述期限）。")
        if state == S.SUSPENDED:
            since = f"自{day_text(case.suspended_since)}起" if case.suspended_since else ""
            lines.append(f"{since}处于特别程序中，计时暂停；特别程序所用时间不计入办理期限，结束后期限相应顺延。")
        elif case.suspended_working_days:
            lines.append(f"特别程序用时 {case.suspended_working_days} 个工作日，已不计入办理期限。")
    elif state == S.DECIDED and case.step_due:
        lines.append(f"决定已作出，办理结果将于{day_text(case.step_due)}前送出。")
    return lines


# --- what is asked of the applicant ---------------------------------------------------------------------


def asks(case: Case) -> list[dict[str, str]]:
    """需要您处理: the things the applicant must do now, each with where to do it."""
    state = S(case.state)
    if state == S.DRAFT:
        if case.bundle_application_id:
            return []  # a bundle's part waits for its prerequisites and is submitted by itself
        return [{"kind": "draft", "text": "申请尚未提交，请继续填写并提交。", "anchor": "continue"}]
    if state == S.CORRECTING:
        return [{"kind": "correct", "text": "请按补正告知补正材料，然后重新提交。", "anchor": "correction"}]
    if state == S.SUPPLEMENTING:
        return [{"kind": "supplement", "text": "请按要求补齐材料，然后提交。", "anchor": "supplement"}]
    if state == S.CONCLUDED and case.delivery_method == Case.Delivery.WINDOW:
        return [{"kind": "pickup", "text": "请到办理窗口领取办理结果。", "anchor": "pickup"}]
    return []


def waiting(case: Case) -> str:
    """What happens next when nothing is asked, in one line."""
    state = S(case.state)
    if state == S.DRAFT and case.bundle_application_id:
        return "等待前置事项办结后自动提交"
    return {
        S.DRAFT: "申请尚未提交",
        S.SUBMITTED: "等待工作人员预审，您无需操作",
        S.CORRECTING: "等待您补正",
        S.ACCEPTED: "已受理，正在审查，您无需操作",
        S.SUPPLEMENTING: "等待您补齐材料",
        S.SUSPENDED: "特别程序中，结束后恢复办理",
        S.DECIDED: "已作出决定，等待办结",
        S.CONCLUDED: "已办结，等待送达" if case.delivery_method != Case.Delivery.WINDOW else "已办结，请到窗口领取",
        S.DELIVERED: "已办完",
        S.REFUSED: "已结束",
        S.WITHDRAWN: "已结束",
    }.get(state, "")


def label(case: Case) -> str:
    if case.state == S.DRAFT and case.bundle_application_id:
        return "等待办理"
    return machine.LABELS.get(S(case.state), case.state)


# --- the list -----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Entry:
    """One line of 我的办件: a case, or a bundle application with its parts."""

    kind: str  # case | bundle
    name: str
    status: str
    cases: list[Case]
    asks: list[dict[str, str]]
    waiting: str = ""
    stage: dict[str, Any] | None = None
    bundle: BundleApplication | None = None
    done: int = 0
    parts: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def case(self) -> Case:
        return self.cases[0]


def _case_entry(case: Case) -> Entry:
    return Entry(
        kind="case",
        name=case.implementation.base.name,
        status=label(case),
        cases=[case],
        asks=asks(case),
        waiting=waiting(case),
        stage=stage(case),
    )


def bundle_status(parts: list[Case]) -> tuple[str, int]:
    """One overall status for a bundle: 办理中 2/4 已办结, 已办结, or 已结束 when a part failed."""
    total = len(parts)
    done = sum(1 for c in parts if S(c.state) in DONE)
    ended = sum(1 for c in parts if S(c.state) in ENDED)
    if done == total:
        return "已办结", done
    if done + ended == total:
        return f"已结束（{done}/{total} 项办结）", done
    return f"办理中 {done}/{total} 已办结", done


def entries(*, account: Any, cursor: str | None) -> tuple[list[Entry], str | None]:
    """A page of 我的办件, newest first, by keyset over the applicant's cases (no COUNT). A bundle
    is one entry at the place of its newest case, with every part inside; on a later page its
    older parts are skipped (they were shown with it already). Raises BadCursor."""
    page = case_reads.cases_of(account=account, cursor=cursor)
    after = decode_cursor(cursor) if cursor else None
    bundle_ids = {c.bundle_application_id for c in page.items if c.bundle_application_id}
    parts: dict[int, list[Case]] = {}
    bundles: dict[int, BundleApplication] = {}
    if bundle_ids:
        for part in (
            Case.objects.filter(bundle_application_id__in=bundle_ids, applicant=account)
            .select_related("implementation__base", "bundle_application__bundle")
            .order_by("id")
        ):
            parts.setdefault(part.bundle_application_id, []).append(part)  # type: ignore[arg-type]
            bundles[part.bundle_application_id] = part.bundle_application  # type: ignore[index,assignment]
    rows: list[Entry] = []
    seen: set[int] = set()
    for case in page.items:
        key = case.bundle_application_id
        if key is None:
            rows.append(_case_entry(case))
            continue
        if key in seen:
            continue
        seen.add(key)
        group = parts.get(key, [case])
        if isinstance(after, int) and max(c.id for c in group) >= after:
            continue  # shown on an earlier page with its newest part
        status, done = bundle_status(group)
        rows.append(
            Entry(
                kind="bundle",
                name=bundles[key].bundle.name if key in bundles else "一件事",
                status=status,
                cases=group,
                asks=[{**a, "part": c.implementation.base.name} for c in group for a in asks(c)],
                bundle=bundles.get(key),
                done=done,
                parts=[{"case": c, "label": label(c), "waiting": waiting(c), "asks": asks(c)} for c in group],
            )
        )
    return rows, page.next_cursor
