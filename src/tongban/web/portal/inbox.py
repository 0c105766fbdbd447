"""消息: a citizen's inbox, one message, the message settings, and one-click unsubscribe.

Thin, like the other portal pages: reads through messaging.selectors, writes through
messaging.services, which keep every rule (whose message it is, what cannot be switched off)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from tongban.common.errors import DomainError, NotFound
from tongban.common.masking import mask_name
from tongban.common.pagination import BadCursor
from tongban.identity.models import Account
from tongban.messaging import selectors as inbox
from tongban.messaging import services as messaging
from tongban.messaging.models import MANDATORY_CATEGORIES, Category, Channel
from tongban.web.context import visitor
from tongban.web.portal.account import citizen_required

LOCAL = ZoneInfo("Asia/Shanghai")
PAGE_SIZE = 20
BOXES = {"all": "全部", "unread": "未读", "archived": "已归档"}
# Outside channels a person chooses per category (the inbox is always on).
CHANNEL_CHOICES = [(Channel.SMS.value, "短信"), (Channel.EMAIL.value, "电子邮件"), (Channel.PUSH.value, "App推送")]
CATEGORY_HINTS = {
    Category.CASE_PROGRESS: "您申请的事项受理、补正、办结等进展",
    Category.LICENCE_EXPIRY: "身份证、驾驶证等证照快到期时提醒您换领",
    Category.ACCOUNT_SECURITY: "验证码、密码修改、账号变更等提醒",
    Category.NEW_SERVICES: "新开通的网上办事服务",
    Category.POLICY: "与您相关的政策解读和通知",
}


def when(value: dt.datetime | None) -> str:
    """A time as people read it, in Beijing time: 11月22日 14:05 (with the year when not this year)."""
    if value is None:
        return ""
    local = timezone.localtime(value, LOCAL)
    today = timezone.localtime(timezone.now(), LOCAL).date()
    day = f"{local.month}月{local.day}日" if local.year == today.year else f"{local.year}年{local.month}月{local.day}日"
    return f"{day} {local:%H:%M}"


def iso(value: dt.datetime | None) -> str:
    return timezone.localtime(value, LOCAL).isoformat(timespec="minutes") if value else ""


def _me(request: HttpRequest) -> Account:
    """The signed-in citizen (the views below are all behind citizen_required)."""
    account = visitor(request).citizen
    assert account is not None
    return account


def _category_label(code: str) -> str:
    try:
        return str(Category(code).label)
    except ValueError:
        return "通知"


@never_cache
@citizen_required
@require_GET
def inbox_list(request: HttpRequest) -> HttpResponse:
    account = _me(request)
    box = request.GET.get("box", "all")
    if box not in BOXES:
        box = "all"
    cursor = request.GET.get("cursor") or None
    error = ""
    status = 200
    try:
        page = inbox.inbox_list(account=account, archived=box == "archived", unread_only=box == "unread", cursor=cursor, limit=PAGE_SIZE)
    except BadCursor as exc:
        page, error, status = None, exc.message, 400
    return render(
        request,
        "portal/inbox.html",
        {
            "box": box,
            "boxes": BOXES,
            "items": page.items if page else [],
            "next_cursor": page.next_cursor if page else None,
            "paged": bool(cursor),
            "error": error,
            "when": when,
            "iso": iso,
            "category_label": _category_label,
        },
        status=status,
    )


@citizen_required
@require_POST
def inbox_read_all(request: HttpRequest) -> HttpResponse:
    count = messaging.inbox_mark_all_read(account=_me(request))
    visitor(request).forget_unread()
    messages.success(request, f"已将 {count} 条消息标为已读。" if count else "没有未读消息。")
    return HttpResponseRedirect(reverse("portal:inbox"))


def _safe_link(request: HttpRequest, link: str) -> tuple[str, bool]:
    """The message's link if it is safe to follow, and whether it leaves the platform: a path on
    this site, or an https address elsewhere (said so next to the button). Anything else is dropped."""
    link = (link or "").strip()
    if link.startswith("https://"):
        host = urlsplit(link).hostname or ""
        if host and url_has_allowed_host_and_scheme(link, allowed_hosts={host}, require_https=True):
            return link, host != request.get_host().split(":")[0]
        return "", False
    if link.startswith("/") and url_has_allowed_host_and_scheme(link, allowed_hosts={request.get_host()}):
        return link, False
    return "", False


def _message_missing(request: HttpRequest) -> HttpResponse:
    """One page for an unknown id and for someone else's message: nothing tells them apart."""
    return render(
        request,
        "portal/error.html",
        {
            "title": "没有找到这条消息",
            "status": 404,
            "message": "这条消息不存在，或不属于当前登录的账号。请回到消息列表查看您的消息。",
            "back": (reverse("portal:inbox"), "回到消息列表"),
        },
        status=404,
    )


@never_cache
@citizen_required
@require_GET
def inbox_item(request: HttpRequest, item_id: str) -> HttpResponse:
    """One message; opening it marks it read. Another person's message is as missing as no message."""
    try:
        item = messaging.inbox_mark_read(account=_me(request), item_id=item_id)
    except NotFound:
        return _message_missing(request)
    visitor(request).forget_unread()
    link, external = _safe_link(request, item.link)
    paragraphs = [line.strip() for line in item.body.splitlines() if line.strip()]
    return render(
        request,
        "portal/message.html",
        {
            "item": item,
            "paragraphs": paragraphs,
            "link": link,
            "link_external": external,
            "category": _category_label(item.category),
            "when": when,
            "iso": iso,
        },
    )


@citizen_required
@require_POST
def inbox_archive(request: HttpRequest, item_id: str) -> HttpResponse:
    archived = request.POST.get("archived", "1") != "0"
    try:
        item = messaging.inbox_archive(account=_me(request), item_id=item_id, archived=archived)
    except NotFound:
        return _message_missing(request)
    if archived:
        messages.success(request, f"“{item.title}”已归档。可在“已归档”中找到，随时可以移回收件箱。")
        return HttpResponseRedirect(reverse("portal:inbox"))
    messages.success(request, f"“{item.title}”已移回收件箱。")
    return HttpResponseRedirect(reverse("portal:inbox_item", kwargs={"item_id": str(item.public_id)}))


# --- settings --------------------------------------------------------------------------------------


def _parse_time(raw: str) -> dt.time | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        parsed = dt.time.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(raw) from exc
    return parsed.replace(second=0, microsecond=0)


def _settings_rows(chosen: dict[str, list[str]]) -> list[dict[str, Any]]:
    rows = []
    for category in Category:
        mandatory = category in MANDATORY_CATEGORIES
        rows.append(
            {
                "code": category.value,
                "label": category.label,
                "hint": CATEGORY_HINTS.get(category, ""),
                "mandatory": mandatory,
                "channels": [
                    {"value": value, "label": label, "checked": mandatory or value in chosen.get(category.value, [])}
                    for value, label in CHANNEL_CHOICES
                ],
            }
        )
    return rows


@never_cache
@citizen_required
@require_http_methods(["GET", "POST"])
def inbox_settings(request: HttpRequest) -> HttpResponse:
    account = _me(request)
    errors: dict[str, str] = {}
    if request.method == "POST":
        channels = {c.value: request.POST.getlist(f"channel-{c.value}") for c in Category if c not in MANDATORY_CATEGORIES}
        quiet_start_raw = request.POST.get("quiet_start", "")[:8]
        quiet_end_raw = request.POST.get("quiet_end", "")[:8]
        quiet: dict[str, dt.time | None] = {}
        for name, raw in (("quiet_start", quiet_start_raw), ("quiet_end", quiet_end_raw)):
            try:
                quiet[name] = _parse_time(raw)
            except ValueError:
                errors[name] = "时间格式不正确，请按“时:分”填写，例如 22:00。"
        if not errors:
            try:
                messaging.preference_set(
                    actor=account, account=account, channels=channels, quiet_start=quiet["quiet_start"], quiet_end=quiet["quiet_end"]
                )
            except DomainError as exc:
                if exc.code == "quiet_hours_incomplete":
                    errors["quiet_end" if quiet["quiet_end"] is None else "quiet_start"] = exc.message
                else:
                    errors["form"] = exc.message
        if not errors:
            messages.success(request, "消息设置已保存。")
            return HttpResponseRedirect(reverse("portal:inbox_settings"))
        form: dict[str, Any] = {"channels": channels, "quiet_start": quiet_start_raw, "quiet_end": quiet_end_raw}
        status = 400
    else:
        preference = inbox.preference_get(account)
        form = {
            "channels": {c.value: messaging.preference_channels(preference, c.value) for c in Category},
            "quiet_start": f"{preference.quiet_start:%H:%M}" if preference and preference.quiet_start else "",
            "quiet_end": f"{preference.quiet_end:%H:%M}" if preference and preference.quiet_end else "",
        }
        status = 200
    return render(
        request,
        "portal/message_settings.html",
        {"rows": _settings_rows(form["channels"]), "form": form, "errors": errors},
        status=status,
    )


# --- one-click unsubscribe (from an e-mail; no sign-in: the signed token is the permission) --------


def _unsubscribe_invalid(request: HttpRequest, exc: DomainError) -> HttpResponse:
    return render(
        request,
        "portal/error.html",
        {"title": "退订链接无效", "status": 404, "message": exc.message, "back": (reverse("portal:inbox_settings"), "登录后修改消息设置")},
        status=404,
    )


@csrf_exempt  # RFC 8058 one-click: the mail client POSTs without our form; the signed token is the permission
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        account, category = messaging.unsubscribe_read(token)
    except NotFound as exc:
        return _unsubscribe_invalid(request, exc)
    context: dict[str, Any] = {
        "token": token,
        "category": Category(category).label,
        "mandatory": category in MANDATORY_CATEGORIES,
        "name": mask_name(account.display_name or account.username),
        "done": False,
        "refusal": "",
    }
    status = 200
    if context["mandatory"]:
        context["refusal"] = "账户安全类消息关系到您的账号安全，不能退订。"
    if request.method == "POST":
        try:
            messaging.unsubscribe(token=token)
        except NotFound as exc:
            return _unsubscribe_invalid(request, exc)
        except DomainError as exc:
            context["refusal"] = exc.message
            status = 422
        else:
            context["done"] = True
    return render(request, "portal/unsubscribe.html", context, status=status)
