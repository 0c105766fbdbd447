"""现场实名核验: a window clerk finds a citizen by mobile number (posted, never in an address),
sees their masked identity, compares it with the ID card in hand and records L4 for their hall.

Staff only (``console_view``: clerks and operators); identity.persons.realname_l4 checks again who
may record and for which hall. Every look-up is audited with what was asked and whether it found
someone."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from tongban.common.audit import audit_record
from tongban.common.errors import DomainError
from tongban.common.masking import mask_mobile
from tongban.identity import persons
from tongban.identity.models import Account
from tongban.web.console.access import console_view

LOOKUP_REASON = "大厅现场实名核验：查找群众账号"


class FindForm(forms.Form):
    mobile = forms.CharField(
        label="群众的手机号码",
        max_length=20,
        help_text="请群众报出注册通办时使用的手机号码。",
        error_messages={"required": "请输入群众注册通办时使用的手机号码。"},
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )

    def clean_mobile(self) -> str:
        mobile = persons.normalise_mobile(self.cleaned_data["mobile"])
        if not persons.MOBILE.match(mobile):
            raise forms.ValidationError("手机号码应为 11 位数字，例如 13812345678。")
        return mobile


class RecordForm(forms.Form):
    account = forms.UUIDField(widget=forms.HiddenInput)
    hall = forms.ChoiceField(
        label="核验大厅", error_messages={"required": "请选择核验所在的大厅。", "invalid_choice": "请选择您所在的大厅。"}
    )
    note = forms.CharField(
        label="核验说明",
        max_length=persons.NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="例如：已核对居民身份证原件，人证一致。会记入审计日志。",
        error_messages={"required": "请填写核验说明。"},
    )

    def __init__(self, *args: Any, clerk: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.halls = {str(h.pk): h for h in persons.halls_for(clerk)}
        self.fields["hall"].choices = [(key, hall.name) for key, hall in self.halls.items()]
        if len(self.halls) == 1:
            self.fields["hall"].initial = next(iter(self.halls))


def _page(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    base = {"title": "现场实名核验", "section": "realname"}
    return render(request, "console/identity/realname.html", {**base, **context}, status=status)


@console_view
@require_http_methods(["GET", "POST"])
def realname(request: HttpRequest) -> HttpResponse:
    clerk: Account = request.user  # type: ignore[assignment]
    if request.method == "GET":
        return _page(request, {"find": FindForm()})
    if request.POST.get("action") == "record":
        return _record(request, clerk)
    find = FindForm(request.POST)
    if not find.is_valid():
        return _page(request, {"find": find}, status=422)
    mobile = find.cleaned_data["mobile"]
    found = persons.citizens_by_mobile(mobile)
    person = found[0] if len(found) == 1 else None
    audit_record(
        actor=clerk,
        action="identity.realname_lookup",
        object_type="account",
        object_id=str(person.public_id) if person else "",
        after={"mobile": mask_mobile(mobile), "found": len(found)},
        reason=LOOKUP_REASON,
    )
    if person is None:
        problem = (
            "这个手机号码登记在多个账号上，无法确定是哪一个，请群众拨打 12345 处理。"
            if found
            else "没有找到用这个手机号码注册的群众账号。请核对号码，或请群众先在手机上注册通办。"
        )
        return _page(request, {"find": find, "problem": problem}, status=404)
    record = RecordForm(initial={"account": person.public_id}, clerk=clerk)
    return _page(request, {"find": find, "person": person, "shown": persons.describe(person), "record": record})


def _record(request: HttpRequest, clerk: Account) -> HttpResponse:
    record = RecordForm(request.POST, clerk=clerk)
    person = persons.citizen_get(request.POST.get("account", ""))
    if person is None:
        return _page(request, {"find": FindForm(), "problem": "没有找到这个群众账号，请重新查找。"}, status=404)
    context: dict[str, Any] = {"find": FindForm(), "person": person, "shown": persons.describe(person), "record": record}
    if not record.is_valid():
        return _page(request, context, status=422)
    try:
        persons.realname_l4(clerk=clerk, account=person, hall=record.halls[record.cleaned_data["hall"]], note=record.cleaned_data["note"])
    except DomainError as exc:
        return _page(request, {**context, "record_error": exc}, status=exc.status)
    shown = persons.describe(person)
    messages.success(request, f"已记录：{shown['name']}（{shown['mobile']}）完成现场核验，实名等级升为 L4。已通知本人。")
    return redirect("console:realname")
