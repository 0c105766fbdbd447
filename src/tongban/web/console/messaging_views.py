"""Message centre pages of the operator console (消息中心): volumes, failures and re-drives, the
sandbox SMS gateway's log, a support lookup of one person's messages, templates, and the
department systems that call the partner API.

Operators only. Reads go through `messaging.selectors`; writes through the messaging and identity
services, which audit them. A support lookup is a read of personal data: it needs a reason and
writes an audit row every time it runs.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.validators import URLValidator
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tongban.common.audit import audit_record
from tongban.common.crypto import blind_index
from tongban.common.errors import DomainError
from tongban.common.masking import mask_mobile, mask_name
from tongban.common.pagination import BadCursor, Page
from tongban.identity import services as identity
from tongban.identity.models import Account, ApiClient
from tongban.messaging import selectors, services
from tongban.messaging.builtin import BUILTIN
from tongban.messaging.models import MANDATORY_CATEGORIES, Category, Channel, Delivery, Template, TemplateVersion
from tongban.messaging.rendering import DEFAULT_MAX_LENGTH, PLACEHOLDER_TYPES, sms_worst_case
from tongban.messaging.sandbox import BLOCKED_NUMBER, GARBAGE_NUMBER, TIMEOUT_NUMBER, UNDELIVERABLE_NUMBER
from tongban.org.models import Department
from tongban.web.console.access import operator_view
from tongban.web.console.views import not_found

PAGE_SIZE = 50
PERIODS = {24: "最近 24 小时", 168: "最近 7 天"}
CHANNEL_LABELS = dict(Channel.choices)
CATEGORY_LABELS = dict(Category.choices)
STATE_LABELS = dict(Delivery.State.choices)
BUILTIN_SPECS = {spec["code"]: spec for spec in BUILTIN}
SECURITY_BODY_HIDDEN = "（安全类消息内容不予显示）"
TEXT_FIELDS = ("inbox_title", "inbox_body", "link", "sms_body", "email_subject", "email_body", "push_title", "push_body")
MOBILE = re.compile(r"^1\d{10}$")


def _tabs(current: str) -> dict[str, Any]:
    return {"section": "messages", "tab": current}


def _page_or_first(fetch: Any, cursor: str | None) -> tuple[Page[Any], str, str | None]:
    """A page at the cursor, or the first page with the reason when the cursor is bad."""
    try:
        return fetch(cursor), "", cursor
    except BadCursor as exc:
        return fetch(None), exc.message, None


# --- bars: widths as classes (the CSP forbids inline styles), the numbers always in text too ------


def _pct(part: int, whole: int) -> int:
    """A width class in steps of 2 %: never 0 for a part that exists, so a small share still shows."""
    if not whole or not part:
        return 0
    return max(2, min(100, round(50 * part / whole) * 2))


def _rate(delivered: int, failed: int) -> float | None:
    ended = delivered + failed
    return round(100 * delivered / ended, 1) if ended else None


# --- 1. overview ---------------------------------------------------------------------------------


@operator_view
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    try:
        hours = int(request.GET.get("hours", "24"))
    except ValueError:
        hours = 24
    if hours not in PERIODS:
        hours = 24
    data = selectors.volumes(since=selectors.since_hours(hours))
    channels = data["by_channel"]
    widest = max((row["total"] for row in channels), default=0)
    for row in channels:
        row["label"] = CHANNEL_LABELS.get(row["channel"], row["channel"])
        row["bar"] = _pct(row["total"], widest)
        row["ok"] = _pct(row["delivered"], row["total"])
        row["bad"] = _pct(row["failed"], row["total"])
        row["wait"] = _pct(row["pending"], row["total"])
    totals = {key: sum(row[key] for row in channels) for key in ("total", "delivered", "failed", "pending")}
    totals["rate"] = _rate(totals["delivered"], totals["failed"])
    templates = data["by_template"]
    widest = max((row["total"] for row in templates), default=0)
    for row in templates:
        row["code"] = row.pop("message__template_version__template__code")
        row["name"] = row.pop("message__template_version__template__name")
        row["pending"] = row["total"] - row["delivered"] - row["failed"]
        row["rate"] = _rate(row["delivered"], row["failed"])
        row["bar"] = _pct(row["total"], widest)
        row["ok"] = _pct(row["delivered"], row["total"])
        row["bad"] = _pct(row["failed"], row["total"])
        row["wait"] = _pct(row["pending"], row["total"])
    failures = data["failures"]
    widest = max((row["total"] for row in failures), default=0)
    for row in failures:
        row["label"] = CHANNEL_LABELS.get(row["channel"], row["channel"])
        row["bar"] = _pct(row["total"], widest)
    return render(
        request,
        "console/messages/overview.html",
        {
            "title": "消息中心概况",
            **_tabs("overview"),
            "hours": hours,
            "period": PERIODS[hours],
            "periods": list(PERIODS.items()),
            "channels": channels,
            "totals": totals,
            "templates": templates,
            "failures": failures,
        },
    )


# --- 2. failures and re-drives -------------------------------------------------------------------


class RedriveForm(forms.Form):
    reason = forms.CharField(
        label="重新投递原因", max_length=200, strip=True, error_messages={"required": "请填写原因，例如“短信通道故障已恢复”。"}
    )
    cursor = forms.CharField(required=False, widget=forms.HiddenInput)


@dataclass
class RowError:
    kind: str  # "delivery" or "callback"
    pk: int
    message: str
    reason: str = ""


@operator_view
@require_GET
def failures(request: HttpRequest) -> HttpResponse:
    return _render_failures(request, request.GET.get("cursor") or None)


def _render_failures(request: HttpRequest, cursor: str | None, *, row_error: RowError | None = None, status: int = 200) -> HttpResponse:
    page, list_error, cursor = _page_or_first(lambda c: selectors.failed_deliveries(cursor=c, limit=PAGE_SIZE), cursor)
    callbacks = selectors.failed_callbacks(limit=PAGE_SIZE)
    for callback in callbacks:
        payload = callback.payload if isinstance(callback.payload, dict) else {}
        callback.channel_label = CHANNEL_LABELS.get(payload.get("channel", ""), payload.get("channel", ""))  # type: ignore[attr-defined]
        callback.status_label = STATE_LABELS.get(payload.get("status", ""), payload.get("status", ""))  # type: ignore[attr-defined]
    return render(
        request,
        "console/messages/failures.html",
        {
            "title": "投递失败",
            **_tabs("failures"),
            "deliveries": page.items,
            "callbacks": callbacks,
            "cursor": cursor or "",
            "next_url": "?" + urlencode({"cursor": page.next_cursor}) if page.next_cursor else None,
            "first_url": "?" if cursor else None,
            "list_error": list_error,
            "row_error": row_error,
        },
        status=status,
    )


def _back_to_failures(cursor: str) -> HttpResponse:
    response = redirect("console:message_failures")
    if cursor:
        response["Location"] += "?" + urlencode({"cursor": cursor})
    return response


@operator_view
@require_POST
def delivery_redrive(request: HttpRequest, delivery_id: int) -> HttpResponse:
    form = RedriveForm(request.POST)
    cursor = request.POST.get("cursor", "")
    if not form.is_valid():
        message = "；".join(e for errors in form.errors.values() for e in errors)
        return _render_failures(request, cursor or None, row_error=RowError("delivery", delivery_id, message), status=422)
    reason = form.cleaned_data["reason"]
    try:
        delivery = services.delivery_redrive(actor=request.user, delivery_id=delivery_id, reason=reason)
    except DomainError as exc:
        return _render_failures(
            request, cursor or None, row_error=RowError("delivery", delivery_id, exc.message, reason), status=exc.status
        )
    label = CHANNEL_LABELS.get(delivery.channel, delivery.channel)
    messages.success(request, f"已重新排队投递（{label} {delivery.address_masked}），结果稍后在此页和概况中可见。")
    return _back_to_failures(cursor)


@operator_view
@require_POST
def callback_redrive(request: HttpRequest, callback_id: int) -> HttpResponse:
    form = RedriveForm(request.POST)
    cursor = request.POST.get("cursor", "")
    if not form.is_valid():
        message = "；".join(e for errors in form.errors.values() for e in errors)
        return _render_failures(request, cursor or None, row_error=RowError("callback", callback_id, message), status=422)
    reason = form.cleaned_data["reason"]
    try:
        services.callback_redrive(actor=request.user, callback_id=callback_id, reason=reason)
    except DomainError as exc:
        return _render_failures(
            request, cursor or None, row_error=RowError("callback", callback_id, exc.message, reason), status=exc.status
        )
    messages.success(request, "已重新排队推送状态回调。")
    return _back_to_failures(cursor)


# --- 3. the sandbox SMS gateway ------------------------------------------------------------------


@operator_view
@require_GET
def sandbox_sms(request: HttpRequest) -> HttpResponse:
    cursor = request.GET.get("cursor") or None
    page, list_error, cursor = _page_or_first(lambda c: selectors.sandbox_sms_recent(cursor=c, limit=PAGE_SIZE), cursor)
    return render(
        request,
        "console/messages/sandbox.html",
        {
            "title": "沙箱短信",
            **_tabs("sandbox"),
            "rows": page.items,
            "next_url": "?" + urlencode({"cursor": page.next_cursor}) if page.next_cursor else None,
            "first_url": "?" if cursor else None,
            "list_error": list_error,
            "test_numbers": [
                (TIMEOUT_NUMBER, "网关响应超时：按临时故障稍后重试，重试用尽后为“发送失败”"),
                (GARBAGE_NUMBER, "网关返回无法识别的应答：按临时故障稍后重试"),
                (UNDELIVERABLE_NUMBER, "网关接收，随后回执“空号”：投递失败"),
                (BLOCKED_NUMBER, "网关当即拒绝（号码在黑名单中）：立即失败，不重试"),
            ],
        },
    )


# --- 4. support lookup ---------------------------------------------------------------------------


class SupportLookupForm(forms.Form):
    who = forms.CharField(
        label="用户名或手机号",
        max_length=150,
        error_messages={"required": "请输入要查询的用户名或手机号码。"},
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    reason = forms.CharField(
        label="查询事由",
        max_length=200,
        help_text="会记入审计日志，例如“12345 工单 2026112200123：反映未收到办件短信”。",
        error_messages={"required": "请填写查询事由：查看他人的消息记录须说明原因。"},
    )
    cursor = forms.CharField(required=False, widget=forms.HiddenInput)


@dataclass
class MessageRow:
    message: Any
    template: Template
    category: str
    status: str
    deliveries: list[Delivery]
    subject: str = ""
    body: str = ""
    hidden: bool = False


def _find_account(who: str) -> tuple[Account | None, str]:
    """The account a support lookup asks about, by username or (unique) mobile number."""
    who = who.strip()
    account = Account.objects.filter(username=who).first()
    if account is not None:
        return account, ""
    mobile = re.sub(r"[\s-]", "", who).removeprefix("+86")
    if MOBILE.match(mobile):
        found = list(Account.objects.filter(mobile_index=blind_index(mobile, kind="mobile"))[:2])
        if len(found) == 1:
            return found[0], ""
        if len(found) > 1:
            return None, "这个手机号码登记在多个账号上，请改用用户名查询。"
    return None, "没有找到这个用户名或手机号码对应的账号，请核对后再查。"


def _masked_query(who: str) -> str:
    digits = re.sub(r"[\s-]", "", who).removeprefix("+86")
    return mask_mobile(digits) if MOBILE.match(digits) else who.strip()[:150]


def _message_rows(items: list[Any]) -> list[MessageRow]:
    rows = []
    for message in items:
        deliveries = sorted(message.deliveries.all(), key=lambda d: d.pk)
        row = MessageRow(
            message=message,
            template=message.template_version.template,
            category=CATEGORY_LABELS.get(message.category, message.category),
            status=STATE_LABELS.get(selectors.message_status(deliveries), ""),
            deliveries=deliveries,
        )
        if message.category in MANDATORY_CATEGORIES:
            row.hidden = True
        else:
            shown = next((d for d in deliveries if d.channel == Channel.INBOX), None) or next((d for d in deliveries if d.body), None)
            if shown is not None:
                row.subject, row.body = shown.subject, shown.body
        rows.append(row)
    return rows


@operator_view
@require_http_methods(["GET", "POST"])
def support(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"title": "用户消息查询", **_tabs("support")}
    if request.method == "GET":
        return render(request, "console/messages/support.html", {**context, "form": SupportLookupForm()})
    form = SupportLookupForm(request.POST)
    if not form.is_valid():
        return render(request, "console/messages/support.html", {**context, "form": form}, status=422)
    who, reason = form.cleaned_data["who"], form.cleaned_data["reason"]
    account, problem = _find_account(who)
    audit_record(
        actor=request.user,
        action="message.support_view",
        object_type="account",
        object_id=str(account.public_id) if account else "",
        after={"query": _masked_query(who), "found": account is not None},
        reason=reason,
    )
    if account is None:
        return render(request, "console/messages/support.html", {**context, "form": form, "problem": problem}, status=404)
    cursor = form.cleaned_data["cursor"] or None
    page, list_error, cursor = _page_or_first(lambda c: selectors.messages_of(account=account, cursor=c, limit=PAGE_SIZE), cursor)
    return render(
        request,
        "console/messages/support.html",
        {
            **context,
            "form": form,
            "account": account,
            "account_name": mask_name(account.display_name),
            "account_mobile": mask_mobile(account.mobile) if account.mobile_sealed else "",
            "rows": _message_rows(page.items),
            "next_cursor": page.next_cursor,
            "paged": bool(cursor),
            "list_error": list_error,
            "security_hidden": SECURITY_BODY_HIDDEN,
        },
    )


# --- 5. templates --------------------------------------------------------------------------------


def _placeholder_lines(placeholders: list[dict[str, Any]]) -> str:
    return "\n".join(f"{p['name']}:{p['type']}:{p.get('label', '')}:{p.get('max_length', '')}" for p in placeholders)


def _fallback_text(fallback: dict[str, list[str]]) -> str:
    return "；".join(f"{source}>{','.join(targets)}" for source, targets in fallback.items())


class TemplateForm(forms.Form):
    code = forms.SlugField(
        label="模板代码", max_length=64, help_text="小写字母、数字和短横线，例如 case-accepted；建好后不能修改，业务系统按它发送。"
    )
    name = forms.CharField(label="模板名称", max_length=100)
    category = forms.ChoiceField(label="消息类别", choices=Category.choices, help_text="“账户安全”类消息不受免打扰和退订限制。")
    placeholders = forms.CharField(
        label="占位符",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="每行一个：名称:类型:说明:最大长度，例如 case_code:code:办件编号:43。类型："
        + "；".join(f"{k}（{v}）" for k, v in PLACEHOLDER_TYPES.items())
        + "。正文中写作 ${名称}。",
    )
    inbox_title = forms.CharField(label="站内消息标题", max_length=100, required=False)
    inbox_body = forms.CharField(label="站内消息正文", required=False, widget=forms.Textarea(attrs={"rows": 3}))
    link = forms.CharField(label="站内链接", max_length=300, required=False, help_text="以 / 开头的站内路径，可用占位符。")
    sms_body = forms.CharField(
        label="短信正文", required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="短信签名会自动加在开头，不要重复写。"
    )
    email_subject = forms.CharField(label="邮件主题", max_length=200, required=False)
    email_body = forms.CharField(label="邮件正文", required=False, widget=forms.Textarea(attrs={"rows": 4}))
    push_title = forms.CharField(label="推送标题", max_length=60, required=False)
    push_body = forms.CharField(label="推送正文", max_length=200, required=False)
    fallback = forms.CharField(
        label="失败转投",
        required=False,
        help_text="例如 sms>email：短信失败或过期时改发邮件；多条用分号隔开。通道：inbox 站内消息、sms 短信、email 邮件、push 推送。",
    )
    ttl_minutes = forms.IntegerField(label="有效时长（分钟）", min_value=1, max_value=60 * 24 * 30, initial=24 * 60)
    department = forms.CharField(
        label="所属部门（统一社会信用代码）", max_length=18, required=False, help_text="留空为平台模板；填写后该部门的接入系统可以使用。"
    )
    note = forms.CharField(label="修改说明", max_length=200, required=False)

    def __init__(self, *args: Any, template: Template | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.template = template
        self.builtin = BUILTIN_SPECS.get(template.code) if template else None
        if template is not None:
            del self.fields["code"]
            self.fields["note"].required = True
            self.fields["note"].help_text = "说明这一版改了什么、为什么改，记入版本记录。"
        if self.builtin is not None:
            self.fields["category"].disabled = True
            self.fields["category"].help_text = "平台内置模板的类别不能修改。"

    def clean(self) -> dict[str, Any]:
        # Browsers send CRLF from text areas; the stored texts use \n, so an unchanged text stays unchanged.
        data = super().clean()
        for name in TEXT_FIELDS:
            if isinstance(data.get(name), str):
                data[name] = data[name].replace("\r\n", "\n").replace("\r", "\n")
        return data

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].lower()
        if code == "new":
            raise forms.ValidationError("“new”是保留字，请换一个模板代码。")
        if code in BUILTIN_SPECS:
            raise forms.ValidationError("这是平台内置模板的代码，由平台自动创建，请换一个模板代码。")
        if Template.objects.filter(code=code).exists():
            raise forms.ValidationError("已有这个代码的模板；要修改它，请到该模板页面“添加新版本”。")
        return code

    def clean_placeholders(self) -> list[dict[str, Any]]:
        specs: list[dict[str, Any]] = []
        problems = []
        for number, raw in enumerate(self.cleaned_data["placeholders"].replace("：", ":").splitlines(), start=1):
            line = raw.strip()
            if not line:
                continue
            parts = [p.strip() for p in line.split(":")]
            if len(parts) < 2 or len(parts) > 4:
                problems.append(f"第 {number} 行应写成 名称:类型:说明:最大长度。")
                continue
            name, kind = parts[0], parts[1]
            label = parts[2] if len(parts) > 2 and parts[2] else name
            length = parts[3] if len(parts) > 3 else ""
            if kind not in PLACEHOLDER_TYPES:
                problems.append(f"第 {number} 行的类型“{kind}”无效，可用：{'、'.join(PLACEHOLDER_TYPES)}。")
                continue
            spec: dict[str, Any] = {"name": name, "type": kind, "label": label}
            if length:
                if not length.isdigit() or not 1 <= int(length) <= 500:
                    problems.append(f"第 {number} 行的最大长度应为 1 到 500 的整数。")
                    continue
                spec["max_length"] = int(length)
            specs.append(spec)
        if problems:
            raise forms.ValidationError(problems)
        if self.builtin is not None:
            self._check_builtin(specs)
        return specs

    def _check_builtin(self, specs: list[dict[str, Any]]) -> None:
        assert self.builtin is not None
        wanted = {p["name"]: p for p in self.builtin["placeholders"]}
        given = {p["name"]: p for p in specs}
        listing = "、".join(f"{p['name']}（{PLACEHOLDER_TYPES[p['type']].split('（')[0]}）" for p in self.builtin["placeholders"])
        if set(given) != set(wanted) or any(given[n]["type"] != wanted[n]["type"] for n in wanted):
            raise forms.ValidationError(
                f"“{self.builtin['code']}”是平台内置模板，平台的业务代码按固定参数发送它，占位符必须保持为：{listing}。"
                "可以修改说明、最大长度和正文措辞。"
            )
        for name, spec in wanted.items():
            floor = int(spec.get("max_length") or DEFAULT_MAX_LENGTH[spec["type"]])
            if int(given[name].get("max_length") or DEFAULT_MAX_LENGTH[spec["type"]]) < floor:
                raise forms.ValidationError(f"内置模板的占位符“{name}”最大长度不能小于 {floor}，否则平台发送的内容会被拒绝。")

    def clean_fallback(self) -> dict[str, list[str]]:
        text = self.cleaned_data["fallback"].replace("；", ";").replace("，", ",").replace("＞", ">")
        result: dict[str, list[str]] = {}
        for chunk in re.split(r"[;\n]", text):
            chunk = chunk.strip()
            if not chunk:
                continue
            steps = [s.strip() for s in chunk.split(">")]
            if len(steps) < 2 or any(not s for s in steps):
                raise forms.ValidationError(f"“{chunk}”应写成 原通道>转投通道，例如 sms>email。")
            for source, targets in itertools.pairwise(steps):
                for channel in [source, *targets.split(",")]:
                    if channel.strip() not in CHANNEL_LABELS:
                        raise forms.ValidationError(f"没有“{channel.strip()}”这个通道，可用：inbox、sms、email、push。")
                if "," in source:
                    raise forms.ValidationError(f"“{chunk}”中只有最后一段可以列出多个通道。")
                result.setdefault(source, [])
                result[source] += [t.strip() for t in targets.split(",") if t.strip() not in result[source]]
        return result

    def clean_department(self) -> Department | None:
        code = self.cleaned_data["department"].strip().upper()
        if not code:
            return None
        department = Department.objects.filter(credit_code=code).first()
        if department is None:
            raise forms.ValidationError(f"没有统一社会信用代码为“{code}”的部门。")
        return department


def _template_initial(template: Template, current: TemplateVersion | None) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "name": template.name,
        "category": template.category,
        "fallback": _fallback_text(template.fallback),
        "ttl_minutes": template.ttl_minutes,
        "department": template.department.credit_code if template.department else "",
    }
    if current is not None:
        initial["placeholders"] = _placeholder_lines(current.placeholders)
        initial.update({f: getattr(current, f) for f in TEXT_FIELDS})
    return initial


def _worst_case(sms_body: str, placeholders: Any) -> tuple[int, int] | None:
    """The SMS worst case for what was typed, when it can be worked out at all."""
    if not sms_body or not isinstance(placeholders, list):
        return None
    try:
        return sms_worst_case(sms_body, placeholders)
    except (DomainError, KeyError, ValueError, TypeError):
        return None


@operator_view
@require_GET
def templates(request: HttpRequest) -> HttpResponse:
    rows = list(selectors.templates_all())
    versions = {
        v.template_id: v
        for v in TemplateVersion.objects.filter(template__in=rows, version=F("template__current_version")).only(
            "template_id", "version", "inbox_body", "sms_body", "email_body", "push_body"
        )
    }
    return render(
        request,
        "console/messages/templates.html",
        {
            "title": "消息模板",
            **_tabs("templates"),
            "rows": [
                (
                    t,
                    [CHANNEL_LABELS[c] for c in versions[t.pk].channels()] if t.pk in versions else [],
                    t.code in BUILTIN_SPECS,
                )
                for t in rows
            ],
        },
    )


def _template_or_none(code: str) -> Template | None:
    return Template.objects.select_related("department").filter(code=code).first()


@operator_view
@require_GET
def template_detail(request: HttpRequest, code: str) -> HttpResponse:
    template = _template_or_none(code)
    if template is None:
        return not_found(request, f"没有找到消息模板“{code}”。")
    versions = list(template.versions.select_related("created_by").order_by("-version"))
    current = next((v for v in versions if v.version == template.current_version), None)
    return render(
        request,
        "console/messages/template_detail.html",
        {
            "title": f"消息模板：{template.name}",
            **_tabs("templates"),
            "template": template,
            "current": current,
            "versions": versions,
            "builtin": template.code in BUILTIN_SPECS,
            "worst": _worst_case(current.sms_body, current.placeholders) if current else None,
            "placeholders": [{**p, "type_label": PLACEHOLDER_TYPES.get(p["type"], p["type"])} for p in current.placeholders]
            if current
            else [],
            "fallback": [(CHANNEL_LABELS[s], [CHANNEL_LABELS[t] for t in ts]) for s, ts in template.fallback.items()],
        },
    )


@operator_view
@require_http_methods(["GET", "POST"])
def template_new(request: HttpRequest) -> HttpResponse:
    return _template_form(request, None)


@operator_view
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, code: str) -> HttpResponse:
    template = _template_or_none(code)
    if template is None:
        return not_found(request, f"没有找到消息模板“{code}”。")
    return _template_form(request, template)


def _template_form(request: HttpRequest, template: Template | None) -> HttpResponse:
    current = template.versions.filter(version=template.current_version).first() if template else None
    initial = _template_initial(template, current) if template else {}
    if request.method == "GET":
        form = TemplateForm(initial=initial, template=template)
        worst = _worst_case(current.sms_body, current.placeholders) if current else None
        return _render_template_form(request, template, form, worst=worst)
    form = TemplateForm(request.POST, initial=initial, template=template)
    valid = form.is_valid()
    data = form.cleaned_data
    worst = _worst_case(data.get("sms_body", "").strip(), data.get("placeholders"))
    if not valid:
        return _render_template_form(request, template, form, worst=worst, status=422)
    before = (
        (template.current_version, template.name, template.category, template.fallback, template.ttl_minutes, template.department_id)
        if template
        else None
    )
    try:
        version = services.template_save(
            actor=request.user,
            code=template.code if template else data["code"],
            name=data["name"],
            category=data["category"],
            placeholders=data["placeholders"],
            texts={f: data[f] for f in TEXT_FIELDS},
            fallback=data["fallback"],
            ttl_minutes=data["ttl_minutes"],
            department=data["department"],
            note=data["note"],
        )
    except DomainError as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        if "segments" in details:
            worst = (details["length"], details["segments"])
        target = details.get("field") if details.get("field") in form.fields else None
        form.add_error(target or _error_field(exc.code), exc.message)
        return _render_template_form(request, template, form, worst=worst, error=exc, status=exc.status)
    saved = version.template
    if before is None:
        messages.success(request, f"已创建消息模板“{saved.name}”（第 {version.version} 版）。")
    elif version.version != before[0]:
        messages.success(request, f"已保存为第 {version.version} 版，此后发送的消息使用新版本。")
    elif before[1:] != (saved.name, saved.category, saved.fallback, saved.ttl_minutes, saved.department_id):
        messages.success(request, f"已保存模板设置；正文和占位符没有变化，仍为第 {version.version} 版。")
    else:
        messages.info(request, "内容与当前版本相同，没有保存新版本。")
    return redirect("console:message_template", code=saved.code)


def _error_field(code: str) -> str | None:
    """The field a service error belongs to, by its stable code."""
    return {
        "sms_too_long": "sms_body",
        "template_fallback": "fallback",
        "template_ttl": "ttl_minutes",
        "template_category": "category",
        "placeholder_name": "placeholders",
        "placeholder_type": "placeholders",
        "placeholder_duplicate": "placeholders",
        "placeholder_unused": "placeholders",
        "placeholder_undeclared": "placeholders",
    }.get(code)


def _render_template_form(
    request: HttpRequest, template: Template | None, form: TemplateForm, *, worst: Any = None, error: Any = None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "console/messages/template_form.html",
        {
            "title": f"添加新版本：{template.name}" if template else "新建消息模板",
            **_tabs("templates"),
            "template": template,
            "builtin": form.builtin,
            "form": form,
            "worst": worst,
            "error": error,
            "max_segments": settings.SMS_MAX_SEGMENTS,
        },
        status=status,
    )


# --- 6. department systems (API clients) ---------------------------------------------------------


class ApiClientForm(forms.Form):
    name = forms.CharField(label="系统名称", max_length=100, help_text="例如“南昌市不动产登记系统”。")
    department = forms.CharField(label="所属部门（统一社会信用代码）", max_length=18)
    callback_url = forms.CharField(
        label="状态回调地址", max_length=500, required=False, help_text="可不填。填写 https 地址，平台把每条消息的投递结果推送到这里。"
    )
    rate_limit = forms.IntegerField(label="每分钟调用上限", min_value=1, max_value=1_000_000, initial=3000)

    def clean_department(self) -> Department:
        code = self.cleaned_data["department"].strip().upper()
        department = Department.objects.filter(credit_code=code).first()
        if department is None:
            raise forms.ValidationError(f"没有统一社会信用代码为“{code}”的部门。")
        return department

    def clean_callback_url(self) -> str:
        url = self.cleaned_data["callback_url"].strip()
        if url:
            try:
                URLValidator(schemes=["https", "http"])(url)
            except forms.ValidationError as exc:
                raise forms.ValidationError("回调地址无效，请填写完整的 https:// 地址。") from exc
        return url


@operator_view
@require_http_methods(["GET", "POST"])
def api_clients(request: HttpRequest) -> HttpResponse:
    created: dict[str, Any] | None = None
    error: DomainError | None = None
    status = 200
    if request.method == "POST":
        form = ApiClientForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                client, keys = identity.api_client_create(
                    actor=request.user,
                    name=data["name"].strip(),
                    department=data["department"],
                    callback_url=data["callback_url"],
                    rate_limit_per_minute=data["rate_limit"],
                )
            except DomainError as exc:
                error, status = exc, exc.status
                form.add_error("name" if exc.code == "client_exists" else None, exc.message)
            else:
                created = {"client": client, "live": keys["live"], "test": keys["test"], "secret": client.callback_secret}
                form = ApiClientForm()
        else:
            status = 422
    else:
        form = ApiClientForm()
    clients = ApiClient.objects.select_related("department").prefetch_related("keys").order_by("name")
    return render(
        request,
        "console/messages/clients.html",
        {"title": "接入系统", **_tabs("clients"), "clients": clients, "form": form, "created": created, "error": error},
        status=status,
    )
