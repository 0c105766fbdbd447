"""Case webhooks that failed (办件推送失败): the department systems whose callback URL kept refusing
a new or changed case, newest first, and a re-drive with a reason (audited) once the system is
back. Operators only; the writes go through cases.webhooks."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from tongban.cases import webhooks
from tongban.cases.models import CaseWebhook
from tongban.common.errors import DomainError
from tongban.web.console.access import operator_view

PAGE_SIZE = 50


class RedriveForm(forms.Form):
    reason = forms.CharField(
        label="重新推送原因", max_length=200, strip=True, error_messages={"required": "请填写原因，例如“对方系统已恢复”。"}
    )


def _render(request: HttpRequest, *, error_pk: int | None = None, error: str = "", reason: str = "", status: int = 200) -> HttpResponse:
    failed = list(
        CaseWebhook.objects.filter(state=CaseWebhook.State.FAILED).select_related("client").order_by("-finished_at", "-id")[:PAGE_SIZE]
    )
    return render(
        request,
        "console/cases/webhooks.html",
        {"title": "办件推送失败", "section": "case_webhooks", "webhooks": failed, "error_pk": error_pk, "error": error, "reason": reason},
        status=status,
    )


@operator_view
@require_GET
def failed_webhooks(request: HttpRequest) -> HttpResponse:
    return _render(request)


@operator_view
@require_POST
def webhook_redrive(request: HttpRequest, webhook_id: int) -> HttpResponse:
    form = RedriveForm(request.POST)
    if not form.is_valid():
        message = "；".join(str(e) for errors in form.errors.values() for e in errors)
        return _render(request, error_pk=webhook_id, error=message, status=422)
    reason = form.cleaned_data["reason"]
    try:
        webhook = webhooks.webhook_redrive(actor=request.user, webhook_id=webhook_id, reason=reason)
    except DomainError as exc:
        return _render(request, error_pk=webhook_id, error=exc.message, reason=reason, status=exc.status)
    messages.success(request, f"已重新排队推送（{webhook.client.name}）。")
    return redirect("console:case_webhooks")
