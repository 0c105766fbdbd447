"""The demo province's message centre: the platform's templates, two citizens with messages in
their inbox, and a department system with predictable demo API keys (never use them elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass

from tongban.identity import services as identity
from tongban.identity.models import Account, ApiClient
from tongban.messaging import services as messaging
from tongban.messaging.builtin import builtin_templates_save
from tongban.messaging.models import Message
from tongban.org.models import Department

SYSTEM = None
DEMO_LIVE_SECRET = "DemoLiveKey-NotForProduction-0001"
DEMO_TEST_SECRET = "DemoTestKey-NotForProduction-0001"


@dataclass
class DemoClient:
    name: str
    live_key: str
    test_key: str


CITIZENS = [
    # username, name, mobile, ID number (a standard sample number), e-mail
    ("citizen.zhang", "张晓明", "13800138000", "11010519491231002X", "zhangxm@example.cn"),
    ("citizen.li", "李红", "13900000003", "360102198803150026", ""),  # the sandbox's "空号": SMS fails, see the console
]


def load_citizens(password: str) -> list[Account]:
    return [
        identity.citizen_account_upsert(
            actor=SYSTEM, username=username, password=password, display_name=name, mobile=mobile, id_number=id_number, email=email
        )
        for username, name, mobile, id_number, email in CITIZENS
    ]


def load_messaging(citizens: list[Account]) -> DemoClient | None:
    builtin_templates_save(actor=SYSTEM)
    police = Department.objects.filter(division__code="360102", kind="公安").first()
    client = None
    if police is not None:
        messaging.template_save(
            actor=SYSTEM,
            code="donghu-police-done",
            name="东湖公安办结通知",
            category="case_progress",
            department=police,
            placeholders=[
                {"name": "item", "type": "text", "label": "事项", "max_length": 30},
                {"name": "case_code", "type": "code", "label": "办件编号"},
            ],
            texts={
                "inbox_title": "${item}已办结",
                "inbox_body": "您在东湖区公安局申请的“${item}”（办件编号 ${case_code}）已办结，请按选择的方式领取结果。",
                "sms_body": "您申请的${item}已办结，请按选择的方式领取结果。",
                "email_subject": "办结通知：${item}",
                "email_body": "您在东湖区公安局申请的“${item}”（办件编号 ${case_code}）已办结。",
            },
            fallback={"sms": ["email"]},
        )
        client = ApiClient.objects.filter(name="东湖公安审批系统（演示）").first()
        if client is None:
            client = ApiClient.objects.create(name="东湖公安审批系统（演示）", department=police, callback_secret="demo-callback-secret")  # noqa: S106 - demo only
            identity.api_key_issue(actor=SYSTEM, client=client, kind="live", demo_secret=DEMO_LIVE_SECRET)
            identity.api_key_issue(actor=SYSTEM, client=client, kind="test", demo_secret=DEMO_TEST_SECRET)
    for citizen in citizens:
        if Message.objects.filter(recipient=citizen).exists():
            continue  # running the demo again sends nothing twice
        messaging.message_send(
            recipient=citizen,
            template="new-service",
            data={"service": "新生儿出生“一件事”联办", "link": "/search?q=出生"},
            reason="演示：新服务上线",
        )
        messaging.message_send(
            recipient=citizen,
            template="case-progress",
            data={"item": "居民身份证换领", "case_code": "3601020001-20261122-000001", "step": "审核", "link": "/search?q=身份证"},
            reason="演示：办件进度",
        )
        messaging.message_send(
            recipient=citizen,
            template="licence-expiry",
            data={"licence": "机动车驾驶证", "expires_on": "2027-01-15", "link": "/search?q=驾驶证"},
            reason="演示：证照到期提醒",
        )
    if client is None:
        return None
    return DemoClient(
        name=client.name,
        live_key=_demo_key("live", DEMO_LIVE_SECRET),
        test_key=_demo_key("test", DEMO_TEST_SECRET),
    )


def _demo_key(kind: str, secret: str) -> str:
    import hashlib

    return f"tb_{kind}_{hashlib.sha256(secret.encode()).hexdigest()[:12]}{secret}"
