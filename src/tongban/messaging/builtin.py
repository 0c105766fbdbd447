"""Templates the platform's own domains send. `tongban messaging-templates` (and the demo) save them;
saving is idempotent, and an operator's later edit in the console becomes a new version."""

from __future__ import annotations

from typing import Any

from tongban.messaging.models import Category

BUILTIN: list[dict[str, Any]] = [
    {
        "code": "account-otp",
        "name": "短信验证码",
        "category": Category.ACCOUNT_SECURITY,
        "ttl_minutes": 10,
        "placeholders": [
            {"name": "code", "type": "code", "label": "验证码", "max_length": 6},
            {"name": "purpose", "type": "text", "label": "用途", "max_length": 10},
            {"name": "minutes", "type": "number", "label": "有效分钟数", "max_length": 2},
        ],
        "texts": {"sms_body": "您正在${purpose}，验证码${code}，${minutes}分钟内有效。工作人员不会向您索要验证码，请勿告诉他人。"},
    },
    {
        "code": "account-changed",
        "name": "账户变更提醒",
        "category": Category.ACCOUNT_SECURITY,
        "placeholders": [
            {"name": "change", "type": "text", "label": "变更内容", "max_length": 20},
            {"name": "when", "type": "text", "label": "时间", "max_length": 20},
        ],
        "texts": {
            "inbox_title": "账户安全提醒：${change}",
            "inbox_body": "您的通办账户于${when}发生变更：${change}。如非本人操作，请立即修改密码并拨打 12345 热线。",
            "sms_body": "您的账户于${when}${change}。如非本人操作，请立即修改密码或拨打12345。",
            "email_subject": "通办账户安全提醒：${change}",
            "email_body": "您的通办账户于${when}发生变更：${change}。\n如非本人操作，请立即登录修改密码，或拨打 12345 政务服务便民热线。",
        },
        "fallback": {"sms": ["email"]},
    },
    {
        "code": "case-progress",
        "name": "办件进度通知",
        "category": Category.CASE_PROGRESS,
        "placeholders": [
            {"name": "item", "type": "text", "label": "事项名称", "max_length": 30},
            {"name": "case_code", "type": "code", "label": "办件编号", "max_length": 43},
            {"name": "step", "type": "text", "label": "办理环节", "max_length": 12},
            {"name": "link", "type": "url", "label": "办件链接", "max_length": 120},
        ],
        "texts": {
            "inbox_title": "${item}：${step}",
            "inbox_body": "您申请的“${item}”（办件编号 ${case_code}）已进入“${step}”环节。",
            "link": "${link}",
            "sms_body": "您申请的${item}已进入${step}环节，可登录通办查看。",
            "email_subject": "办件进度：${item} ${step}",
            "email_body": "您申请的“${item}”（办件编号 ${case_code}）已进入“${step}”环节。\n可登录通办查看详情。",
        },
        "fallback": {"sms": ["email"]},
    },
    {
        "code": "case-deadline",
        "name": "办件时限提醒（工作人员）",
        "category": Category.CASE_PROGRESS,
        "placeholders": [
            {"name": "item", "type": "text", "label": "事项名称", "max_length": 30},
            {"name": "case_code", "type": "code", "label": "办件编号", "max_length": 43},
            {"name": "stage", "type": "text", "label": "提醒类型", "max_length": 4},
            {"name": "due", "type": "date", "label": "期限"},
            {"name": "link", "type": "url", "label": "办件链接", "max_length": 120},
        ],
        "texts": {
            "inbox_title": "办件${stage}：${item}",
            "inbox_body": "办件“${item}”（办件编号 ${case_code}）${stage}，期限为${due}，请及时处理。",
            "link": "${link}",
            "sms_body": "办件${case_code}${stage}，期限${due}，请登录工作台处理。",
        },
    },
    {
        "code": "licence-expiry",
        "name": "证照到期提醒",
        "category": Category.LICENCE_EXPIRY,
        "placeholders": [
            {"name": "licence", "type": "text", "label": "证照名称", "max_length": 20},
            {"name": "expires_on", "type": "date", "label": "到期日"},
            {"name": "link", "type": "url", "label": "办理链接", "max_length": 120},
        ],
        "texts": {
            "inbox_title": "${licence}将于${expires_on}到期",
            "inbox_body": "您的${licence}将于${expires_on}到期，请及时办理换领。",
            "link": "${link}",
            "sms_body": "您的${licence}将于${expires_on}到期，请及时在通办办理换领。",
            "email_subject": "证照到期提醒：${licence}",
            "email_body": "您的${licence}将于${expires_on}到期，请及时登录通办办理换领。",
        },
        "fallback": {"sms": ["email"]},
    },
    {
        "code": "new-service",
        "name": "新服务上线",
        "category": Category.NEW_SERVICES,
        "placeholders": [
            {"name": "service", "type": "text", "label": "服务名称", "max_length": 30},
            {"name": "link", "type": "url", "label": "服务链接", "max_length": 120},
        ],
        "texts": {
            "inbox_title": "新服务上线：${service}",
            "inbox_body": "“${service}”现已可以在通办网上办理。",
            "link": "${link}",
            "sms_body": "${service}已可在通办网上办理。",
            "email_subject": "新服务上线：${service}",
            "email_body": "“${service}”现已可以在通办网上办理，欢迎使用。",
        },
    },
    {
        "code": "policy-notice",
        "name": "政策推送",
        "category": Category.POLICY,
        "placeholders": [
            {"name": "title", "type": "text", "label": "政策标题", "max_length": 40},
            {"name": "summary", "type": "text", "label": "摘要", "max_length": 200},
        ],
        "texts": {
            "inbox_title": "${title}",
            "inbox_body": "${summary}",
            "email_subject": "政策速递：${title}",
            "email_body": "${title}\n\n${summary}",
        },
    },
]


def builtin_templates_save(*, actor: Any) -> int:
    from tongban.messaging.services import template_save

    for spec in BUILTIN:
        template_save(actor=actor, **spec)
    return len(BUILTIN)
