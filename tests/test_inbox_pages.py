"""消息 pages through the test client on the real database: sign-in, the inbox, one message,
the settings, one-click unsubscribe and the unread badge."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.utils import timezone

from tests.conftest import CITIZEN_PASSWORD, STAFF_PASSWORD
from tongban.messaging import services as messaging
from tongban.messaging.models import Category, InboxItem, Preference

INBOX = "/my/messages/"
SETTINGS = "/my/messages/settings/"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Sign-in attempts are counted per address per minute in the cache: each test starts at zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def client() -> Client:
    return Client()


@pytest.fixture
def signed_in(client, citizen) -> Client:
    client.force_login(citizen)
    return client


def send(account, *, item: str = "出生登记（落户）", step: str = "受理", link: str = "/") -> InboxItem:
    with transaction.atomic():
        message = messaging.message_send(
            recipient=account,
            template="case-progress",
            data={"item": item, "case_code": "ABC-1", "step": step, "link": link},
            reason="test",
        )
    return InboxItem.objects.get(message=message)


def page_text(response) -> str:
    return response.content.decode()


def same_page(response, item_id: str) -> str:
    """The page with what differs by design taken out: the id asked for and the CSRF token's mask."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page_text(response).replace(item_id, "ID"))


def badge(response) -> str | None:
    found = re.search(r'<span class="nav-badge" data-unread>([^<]+)<span class="visually-hidden">条未读</span>', page_text(response))
    return found.group(1) if found else None


# --- who may see what ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", INBOX),
        ("get", INBOX + "?box=archived"),
        ("get", SETTINGS),
        ("post", SETTINGS),
        ("post", INBOX + "read-all/"),
        ("get", INBOX + "7d1f61b4-8f0e-4a55-9d7c-1f2a3b4c5d6e/"),
        ("post", INBOX + "7d1f61b4-8f0e-4a55-9d7c-1f2a3b4c5d6e/archive/"),
    ],
)
def test_anonymous_visitors_are_sent_to_sign_in(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("/login/?next=")
    if method == "get":
        assert client.get(location).status_code == 200
    assert InboxItem.objects.count() == 0


@pytest.mark.django_db
def test_staff_signed_in_to_the_console_are_not_citizens_here(client, clerk):
    client.force_login(clerk)
    response = client.get(INBOX)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_citizen_sees_only_their_own_messages(signed_in, citizen, other_citizen, templates):
    mine = send(citizen, item="社会保障卡申领")
    theirs = send(other_citizen, item="机动车注册登记")
    page = page_text(signed_in.get(INBOX))
    assert "社会保障卡申领：受理" in page
    assert "机动车注册登记" not in page
    assert str(mine.public_id) in page and str(theirs.public_id) not in page

    # Another person's message looks exactly like one that does not exist, and stays unread.
    response = signed_in.get(f"{INBOX}{theirs.public_id}/")
    missing = signed_in.get(f"{INBOX}00000000-0000-4000-8000-000000000000/")
    malformed = signed_in.get(f"{INBOX}not-a-uuid/")
    assert response.status_code == missing.status_code == malformed.status_code == 404
    assert "没有找到这条消息" in page_text(response)
    assert same_page(response, str(theirs.public_id)) == same_page(missing, "00000000-0000-4000-8000-000000000000")
    assert "机动车注册登记" not in page_text(response)
    theirs.refresh_from_db()
    assert theirs.read_at is None

    # Nor can it be archived.
    assert signed_in.post(f"{INBOX}{theirs.public_id}/archive/", {"archived": "1"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.archived_at is None and theirs.read_at is None


def test_the_list_is_newest_first_with_category_time_and_unread_marks(signed_in, citizen, templates):
    older = send(citizen, item="出生登记", step="受理")
    InboxItem.objects.filter(pk=older.pk).update(created_at=dt.datetime(2025, 11, 22, 6, 5, tzinfo=dt.UTC), read_at=timezone.now())
    send(citizen, item="社会保障卡申领", step="办结")
    page = page_text(signed_in.get(INBOX))
    assert page.index("社会保障卡申领：办结") < page.index("出生登记：受理")
    assert "办件进度" in page
    assert "2025年11月22日 14:05" in page  # Beijing time, the year shown because it is not this year
    assert 'datetime="2025-11-22T14:05+08:00"' in page
    assert page.count('class="unread-tag"') == 1
    assert "未读</span>" in page
    unread = page_text(signed_in.get(INBOX + "?box=unread"))
    assert "社会保障卡申领" in unread and "出生登记" not in unread


def test_this_year_drops_the_year(signed_in, citizen, templates):
    item = send(citizen)
    local = timezone.localtime(item.created_at, ZoneInfo("Asia/Shanghai"))
    page = page_text(signed_in.get(INBOX))
    assert f">{local.month}月{local.day}日 {local:%H:%M}</time>" in page


def test_cursor_pagination_shows_more(signed_in, citizen, templates):
    for n in range(23):
        send(citizen, step=f"环节{n:02d}")
    first = page_text(signed_in.get(INBOX))
    assert first.count('class="inbox-row') == 20
    assert "环节22" in first and "环节02" not in first
    more = re.search(r'href="/my/messages/\?cursor=([^"]+)"', first)
    assert more is not None
    second = page_text(signed_in.get(f"{INBOX}?cursor={more.group(1)}"))
    assert second.count('class="inbox-row') == 3
    assert "环节02" in second and "环节00" in second and "环节22" not in second
    assert "没有更早的消息了" in second
    bad = signed_in.get(INBOX + "?cursor=@@@")
    assert bad.status_code == 400
    assert "翻页参数无效" in page_text(bad)


def test_empty_inbox_says_so_honestly(signed_in):
    assert "还没有消息" in page_text(signed_in.get(INBOX))
    assert "没有未读消息" in page_text(signed_in.get(INBOX + "?box=unread"))
    assert "没有已归档的消息" in page_text(signed_in.get(INBOX + "?box=archived"))
    assert "全部标为已读" not in page_text(signed_in.get(INBOX))


# --- reading, archiving ------------------------------------------------------------------------------


def test_opening_a_message_marks_it_read_and_escapes_the_body(signed_in, citizen, templates):
    item = send(citizen, item="<b>办证</b>", link="/guide/abc")
    InboxItem.objects.filter(pk=item.pk).update(body="第一段 <script>alert(1)</script>\n\n第二段")
    assert badge(signed_in.get(INBOX)) == "1"
    response = signed_in.get(f"{INBOX}{item.public_id}/")
    page = page_text(response)
    assert response.status_code == 200
    assert "&lt;b&gt;办证&lt;/b&gt;：受理" in page and "<b>办证</b>" not in page
    assert "<p>第一段 &lt;script&gt;alert(1)&lt;/script&gt;</p>" in page
    assert "<p>第二段</p>" in page
    assert 'href="/guide/abc"' in page and "查看详情" in page
    assert "办件进度" in page
    assert badge(response) is None  # the badge already counts it as read
    item.refresh_from_db()
    assert item.read_at is not None


@pytest.mark.parametrize(
    ("link", "shown"), [("https://www.jiangxi.gov.cn/x", True), ("/\\evil.example", False), ("javascript:alert(1)", False)]
)
def test_only_safe_links_become_buttons(signed_in, citizen, templates, link, shown):
    item = send(citizen)
    InboxItem.objects.filter(pk=item.pk).update(link=link)
    page = page_text(signed_in.get(f"{INBOX}{item.public_id}/"))
    assert ("查看详情" in page) is shown
    if shown:
        assert "将打开其他政府网站" in page


def test_archive_and_move_back(signed_in, citizen, templates):
    item = send(citizen, item="社会保障卡申领")
    response = signed_in.post(f"{INBOX}{item.public_id}/archive/", {"archived": "1"})
    assert response.status_code == 302 and response["Location"] == INBOX
    item.refresh_from_db()
    assert item.archived_at is not None and item.read_at is not None
    page = page_text(signed_in.get(INBOX))
    assert "已归档。可在“已归档”中找到" in page
    assert "社会保障卡申领：受理</span>" not in page
    assert "社会保障卡申领：受理" in page_text(signed_in.get(INBOX + "?box=archived"))

    detail = page_text(signed_in.get(f"{INBOX}{item.public_id}/"))
    assert "移回收件箱" in detail
    response = signed_in.post(f"{INBOX}{item.public_id}/archive/", {"archived": "0"})
    assert response.status_code == 302 and response["Location"] == f"{INBOX}{item.public_id}/"
    item.refresh_from_db()
    assert item.archived_at is None
    assert "已移回收件箱" in page_text(signed_in.get(response["Location"]))
    assert signed_in.get(f"{INBOX}{item.public_id}/archive/").status_code == 405


def test_mark_all_read_touches_only_ones_own(signed_in, citizen, other_citizen, templates):
    for _ in range(3):
        send(citizen)
    theirs = send(other_citizen)
    assert badge(signed_in.get(INBOX)) == "3"
    assert signed_in.get(INBOX + "read-all/").status_code == 405
    response = signed_in.post(INBOX + "read-all/")
    assert response.status_code == 302
    page = page_text(signed_in.get(INBOX))
    assert "已将 3 条消息标为已读" in page
    assert badge(signed_in.get(INBOX)) is None
    assert InboxItem.objects.filter(account=citizen, read_at=None).count() == 0
    theirs.refresh_from_db()
    assert theirs.read_at is None


# --- the badge and the query budget -----------------------------------------------------------------


def test_unread_badge_counts_and_caps(signed_in, citizen, templates):
    assert badge(signed_in.get("/my/messages/settings/")) is None
    send(citizen)
    send(citizen)
    assert badge(signed_in.get(SETTINGS)) == "2"
    assert "消息<" in page_text(signed_in.get(SETTINGS))
    # 100 unread: the badge stops at 99+
    for _ in range(98):
        send(citizen)
    assert badge(signed_in.get(SETTINGS)) == "99+"


def test_the_list_costs_a_fixed_number_of_queries(signed_in, citizen, templates, django_assert_num_queries):
    send(citizen)
    signed_in.get(INBOX)
    # session, account, the page of messages, the unread count for the badge, and the session's new
    # expiry (an UPDATE inside a savepoint: three statements)
    with django_assert_num_queries(7) as few:
        signed_in.get(INBOX)
    for _ in range(30):
        send(citizen)
    with django_assert_num_queries(len(few.captured_queries)):
        response = signed_in.get(INBOX)
    assert page_text(response).count('class="inbox-row') == 20


@pytest.mark.django_db
def test_anonymous_pages_do_not_touch_the_database_for_the_badge(mini, client, django_assert_num_queries):
    client.get("/")
    with django_assert_num_queries(4):  # the home page's own queries (test_portal_pages), nothing more
        response = client.get("/")
    assert badge(response) is None
    assert 'href="/login/?next=/"' in page_text(response)


# --- settings --------------------------------------------------------------------------------------


def test_settings_show_defaults_save_and_reload(signed_in, citizen):
    page = page_text(signed_in.get(SETTINGS))
    assert "站内消息始终开启" in page
    assert "安全类消息不受免打扰限制" in page
    assert re.search(r'id="pref-case_progress-sms" name="channel-case_progress" value="sms" checked>', page)
    assert re.search(r'id="pref-policy-sms" name="channel-policy" value="sms">', page)
    assert re.search(r'id="pref-account_security-sms" name="channel-account_security" value="sms" checked disabled>', page)
    assert "不能关闭" in page

    response = signed_in.post(
        SETTINGS,
        {
            "channel-case_progress": ["email", "push"],
            "channel-policy": ["sms"],
            "channel-account_security": [],  # a forged post cannot switch security off
            "quiet_start": "22:00",
            "quiet_end": "07:30",
        },
    )
    assert response.status_code == 302 and response["Location"] == SETTINGS
    preference = Preference.objects.get(account=citizen)
    assert preference.channels[Category.CASE_PROGRESS] == ["email", "push"]
    assert preference.channels[Category.LICENCE_EXPIRY] == []
    assert preference.channels[Category.POLICY] == ["sms"]
    assert Category.ACCOUNT_SECURITY not in preference.channels
    assert messaging.preference_channels(preference, Category.ACCOUNT_SECURITY) == ["sms", "email", "push"]
    assert (preference.quiet_start, preference.quiet_end) == (dt.time(22, 0), dt.time(7, 30))

    page = page_text(signed_in.get(SETTINGS))
    assert "消息设置已保存" in page
    assert re.search(r'value="email" checked>', page) and re.search(r'id="pref-case_progress-sms" [^>]*value="sms">', page)
    assert 'value="22:00"' in page and 'value="07:30"' in page

    # Both times empty: quiet hours off.
    signed_in.post(SETTINGS, {"channel-case_progress": ["sms"], "quiet_start": "", "quiet_end": ""})
    preference.refresh_from_db()
    assert preference.quiet_start is None and preference.quiet_end is None


def test_half_filled_quiet_hours_are_refused_and_what_was_typed_stays(signed_in, citizen):
    response = signed_in.post(SETTINGS, {"channel-case_progress": ["push"], "quiet_start": "22:00", "quiet_end": ""})
    assert response.status_code == 400
    page = page_text(response)
    assert "免打扰时段需要同时填写开始和结束时间" in page
    assert 'id="quiet-end-error"' in page and 'href="#quiet-end"' in page
    assert 'value="22:00"' in page
    assert re.search(r'id="pref-case_progress-push" [^>]*value="push" checked>', page)
    assert not Preference.objects.filter(account=citizen).exists()

    response = signed_in.post(SETTINGS, {"quiet_start": "25:99", "quiet_end": "07:00"})
    assert response.status_code == 400
    assert "时间格式不正确" in page_text(response)
    assert not Preference.objects.filter(account=citizen).exists()


# --- unsubscribe -------------------------------------------------------------------------------------


@pytest.mark.parametrize("slash", ["/", ""])
def test_unsubscribe_get_changes_nothing_post_does(client, citizen, slash):
    token = messaging.unsubscribe_token(citizen, Category.CASE_PROGRESS)
    url = f"/messages/unsubscribe/{token}{slash}"
    response = client.get(url)
    assert response.status_code == 200
    page = page_text(response)
    assert "退订“办件进度”类消息" in page and "确认退订" in page
    assert "张**" in page and "张晓明" not in page
    assert not Preference.objects.filter(account=citizen).exists()

    response = client.post(url)
    assert response.status_code == 200
    assert "已退订“办件进度”" in page_text(response)
    assert 'href="/my/messages/settings/"' in page_text(response)
    assert Preference.objects.get(account=citizen).channels[Category.CASE_PROGRESS] == []


def test_mail_clients_unsubscribe_with_one_click_rfc_8058(citizen):
    from django.test import Client

    mail_client = Client(enforce_csrf_checks=True)  # a mail client has no CSRF token of ours
    token = messaging.unsubscribe_token(citizen, Category.LICENCE_EXPIRY)
    response = mail_client.post(
        f"/messages/unsubscribe/{token}", data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert Preference.objects.get(account=citizen).channels[Category.LICENCE_EXPIRY] == []


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_unsubscribe_with_a_bad_token_is_a_friendly_404(client, citizen, method):
    token = messaging.unsubscribe_token(citizen, Category.CASE_PROGRESS)
    for bad in (token[:-3] + "xyz", "nonsense"):
        response = getattr(client, method)(f"/messages/unsubscribe/{bad}/")
        assert response.status_code == 404
        assert "退订链接无效或已失效" in page_text(response)
        assert "回到首页" in page_text(response)
    assert not Preference.objects.filter(account=citizen).exists()


def test_account_security_cannot_be_unsubscribed(client, citizen):
    token = messaging.unsubscribe_token(citizen, Category.ACCOUNT_SECURITY)
    page = page_text(client.get(f"/messages/unsubscribe/{token}/"))
    assert "不能退订" in page and "确认退订" not in page
    response = client.post(f"/messages/unsubscribe/{token}/")
    assert response.status_code == 422
    assert "账户安全类消息关系到您的账号安全，不能退订" in page_text(response)
    assert not Preference.objects.filter(account=citizen).exists()


# --- sign in, sign out -------------------------------------------------------------------------------


def test_sign_in_rotates_the_session_and_follows_a_safe_next(client, citizen, templates):
    send(citizen)
    page = page_text(client.get("/login/?next=/my/messages/"))
    assert 'name="next" value="/my/messages/"' in page
    planted = client.session  # a session that existed before sign-in (one an attacker could have fixed)
    planted["seen"] = True
    planted.save()
    before = client.cookies["sessionid"].value
    response = client.post("/login/", {"username": "zhangxm", "password": CITIZEN_PASSWORD, "next": "/my/messages/"})
    assert response.status_code == 302 and response["Location"] == "/my/messages/"
    assert client.cookies["sessionid"].value != before
    page = page_text(client.get("/my/messages/"))
    assert "张**" in page and ">退出</button>" in page
    assert badge(client.get("/my/messages/settings/")) == "1"
    # Signed in already: the form page moves on.
    assert client.get("/login/?next=/services").headers["Location"] == "/services"


@pytest.mark.django_db
@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_sign_in_refuses_an_outside_next(client, citizen, target):
    response = client.post("/login/", {"username": "zhangxm", "password": CITIZEN_PASSWORD, "next": target})
    assert response.status_code == 302 and response["Location"] == "/"


def test_wrong_password_shows_an_error_and_keeps_the_username(client, citizen):
    response = client.post("/login/", {"username": "zhangxm", "password": "wrong-password-123"})
    assert response.status_code == 400
    page = page_text(response)
    assert "用户名或密码不正确" in page
    assert 'value="zhangxm"' in page
    assert "wrong-password-123" not in page
    assert "_auth_user_id" not in client.session

    response = client.post("/login/", {"username": "", "password": ""})
    assert response.status_code == 400
    assert "请输入手机号或用户名" in page_text(response) and "请输入密码" in page_text(response)


@pytest.mark.django_db
def test_staff_cannot_sign_in_here(client, operator):
    response = client.post("/login/", {"username": "yunying", "password": STAFF_PASSWORD})
    assert response.status_code == 403
    assert "工作人员账号" in page_text(response)
    assert "_auth_user_id" not in client.session


def test_sign_in_is_rate_limited_per_address(client, citizen):
    for _ in range(4):
        assert client.post("/login/", {"username": "zhangxm", "password": "nope-nope-nope"}).status_code == 400
    assert client.post("/login/", {"username": "zhangxm", "password": "nope-nope-nope"}).status_code == 429
    # Five failures for this username from this address lock the pair (django-axes), the right
    # password included.
    response = client.post("/login/", {"username": "zhangxm", "password": CITIZEN_PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another address is not held up by this one.
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert other.post("/login/", {"username": "zhangxm", "password": CITIZEN_PASSWORD}).status_code == 302


def test_sign_out_only_by_post(signed_in):
    assert signed_in.get("/logout/").status_code == 405
    assert "_auth_user_id" in signed_in.session
    response = signed_in.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert "_auth_user_id" not in signed_in.session
    assert signed_in.get(INBOX).status_code == 302


def test_kiosk_reset_signs_the_last_person_out(signed_in):
    signed_in.post("/mode/kiosk", {"on": "1"})
    signed_in.post("/mode/kiosk-reset")
    assert "_auth_user_id" not in signed_in.session
