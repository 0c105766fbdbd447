"""The case state machine (STANDARDS.md, Cases): every transition, who may take it, and the national
step-result and conclusion codes it records. Pure data and functions: no database.

草稿 → 已申报(待预审) → 预审补正 ↔ 已申报 → 已受理 | 不予受理 → 审查 (补齐补正, 特别程序 挂起/恢复,
延期) → 决定 (准予 | 不予许可) → 办结 → 送达.
"""

from __future__ import annotations

import dataclasses
from enum import StrEnum


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"  # 已申报，待预审
    CORRECTING = "correcting"  # 预审补正：one complete notice sent, waiting for the applicant
    ACCEPTED = "accepted"  # 已受理：the clock runs
    REFUSED = "refused"  # 不予受理 (terminal)
    SUPPLEMENTING = "supplementing"  # 补齐补正 during review (the clock runs: §32 only pauses pre-review)
    SUSPENDED = "suspended"  # 特别程序：hearing, testing, expert review (§45): the clock stops
    DECIDED = "decided"  # 决定：准予 or 不予许可
    CONCLUDED = "concluded"  # 办结
    DELIVERED = "delivered"  # 送达 (terminal)
    WITHDRAWN = "withdrawn"  # 撤回/退件 (terminal)


LABELS = {
    State.DRAFT: "草稿",
    State.SUBMITTED: "已申报（待预审）",
    State.CORRECTING: "待补正",
    State.ACCEPTED: "已受理",
    State.REFUSED: "不予受理",
    State.SUPPLEMENTING: "补齐补正中",
    State.SUSPENDED: "特别程序中",
    State.DECIDED: "已决定",
    State.CONCLUDED: "已办结",
    State.DELIVERED: "已送达",
    State.WITHDRAWN: "已撤回",
}
TERMINAL = frozenset({State.REFUSED, State.DELIVERED, State.WITHDRAWN})
CLOCK_RUNS = frozenset({State.ACCEPTED, State.SUPPLEMENTING})

# Step results used in supervision exchange: 0 不同意, 1 同意, 2 不受理, 3 不予受理, 4 受理,
# 5 补齐补正, 6 特别程序(挂起), 7 退回.
STEP_RESULTS = {0: "不同意", 1: "同意", 2: "不受理", 3: "不予受理", 4: "受理", 5: "补齐补正", 6: "特别程序（挂起）", 7: "退回"}
# Conclusion results: 0 出证办结(准予), 1 不予许可, 2 作废, 3 删除, 4 转报, 5 退件, 6 不予受理;
# a reason is required for 1–5.
CONCLUSIONS = {0: "出证办结（准予）", 1: "不予许可", 2: "作废", 3: "删除", 4: "转报", 5: "退件", 6: "不予受理"}
CONCLUSION_NEEDS_REASON = frozenset({1, 2, 3, 4, 5})
# Special steps (特别程序/特殊环节) of the supervision exchange: 1 补齐补正, 2 听证, 3 公示, 4 核实, 5 挂起, 6 预审补正.
SPECIAL_STEPS = {1: "补齐补正", 2: "听证", 3: "公示", 4: "核实", 5: "挂起", 6: "预审补正"}
# What a clerk may name when suspending the clock (§45: hearing, publication, verification, other).
SUSPENSION_STEPS = frozenset({2, 3, 4, 5})
# Actions that are special steps by their nature.
SPECIAL_STEPS_OF = {"request_correction": 6, "ask_supplement": 1}


class Actor(StrEnum):
    APPLICANT = "applicant"
    CLERK = "clerk"
    SYSTEM = "system"


@dataclasses.dataclass(frozen=True)
class Transition:
    action: str
    source: frozenset[State]
    target: State
    actor: Actor
    step_result: int | None = None
    conclusion: int | None = None
    needs_opinion: bool = False
    label: str = ""


def _t(action: str, source: set[State], target: State, actor: Actor, label: str, **extra: object) -> Transition:
    return Transition(action=action, source=frozenset(source), target=target, actor=actor, label=label, **extra)  # type: ignore[arg-type]


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in [
        _t("submit", {State.DRAFT}, State.SUBMITTED, Actor.APPLICANT, "提交申请"),
        _t("request_correction", {State.SUBMITTED}, State.CORRECTING, Actor.CLERK, "一次性告知补正", step_result=5, needs_opinion=True),
        _t("resubmit", {State.CORRECTING}, State.SUBMITTED, Actor.APPLICANT, "提交补正材料"),
        _t("accept", {State.SUBMITTED}, State.ACCEPTED, Actor.CLERK, "受理", step_result=4),
        # §32: not notified within 5 working days, the application counts as accepted.
        _t("deem_accepted", {State.SUBMITTED}, State.ACCEPTED, Actor.SYSTEM, "逾期未告知，视为受理", step_result=4),
        _t(
            "refuse",
            {State.SUBMITTED, State.CORRECTING},
            State.REFUSED,
            Actor.CLERK,
            "不予受理",
            step_result=3,
            conclusion=6,
            needs_opinion=True,
        ),
        _t("ask_supplement", {State.ACCEPTED}, State.SUPPLEMENTING, Actor.CLERK, "要求补齐补正", step_result=5, needs_opinion=True),
        _t("supplemented", {State.SUPPLEMENTING}, State.ACCEPTED, Actor.APPLICANT, "提交补齐材料"),
        _t("suspend", {State.ACCEPTED}, State.SUSPENDED, Actor.CLERK, "进入特别程序（挂起）", step_result=6, needs_opinion=True),
        _t("resume", {State.SUSPENDED}, State.ACCEPTED, Actor.CLERK, "特别程序结束，恢复计时", step_result=1),
        _t("extend", {State.ACCEPTED}, State.ACCEPTED, Actor.CLERK, "批准延期", step_result=1, needs_opinion=True),
        _t("approve", {State.ACCEPTED}, State.DECIDED, Actor.CLERK, "准予许可", step_result=1, conclusion=0),
        _t("deny", {State.ACCEPTED}, State.DECIDED, Actor.CLERK, "不予许可", step_result=0, conclusion=1, needs_opinion=True),
        _t("conclude", {State.DECIDED}, State.CONCLUDED, Actor.CLERK, "办结"),
        _t("deliver", {State.CONCLUDED}, State.DELIVERED, Actor.CLERK, "送达"),
        _t(
            "withdraw",
            {State.DRAFT, State.SUBMITTED, State.CORRECTING, State.ACCEPTED, State.SUPPLEMENTING},
            State.WITHDRAWN,
            Actor.APPLICANT,
            "撤回申请",
            conclusion=5,
        ),
        _t(
            "return_uncorrected",
            {State.CORRECTING, State.SUPPLEMENTING},
            State.WITHDRAWN,
            Actor.CLERK,
            "逾期未补正，退件",
            step_result=7,
            conclusion=5,
            needs_opinion=True,
        ),
    ]
}


class NotAllowed(Exception):
    """This action cannot be taken from this state (or by this kind of actor)."""


def next_state(state: State, action: str, actor: Actor) -> Transition:
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise NotAllowed(f"unknown action {action!r}")
    if state not in transition.source:
        raise NotAllowed(f"{action} is not allowed from {state}")
    if transition.actor != actor:
        raise NotAllowed(f"{action} is taken by the {transition.actor}, not the {actor}")
    return transition


def allowed(state: State, actor: Actor | None = None) -> list[Transition]:
    return [t for t in TRANSITIONS.values() if state in t.source and (actor is None or t.actor == actor)]
