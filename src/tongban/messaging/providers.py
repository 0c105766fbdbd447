"""Outside channels as plugins. A provider hands one message to a vendor and, if the vendor reports
delivery later, reads its signed receipts. A real SMS vendor's adapter is one file implementing
``Provider``; the registry picks one per channel from settings (SMS_PROVIDER, PUSH_PROVIDER)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import cache
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection


@dataclasses.dataclass(frozen=True)
class Outgoing:
    key: str  # idempotency key of this attempt; the same on a retry after a crash
    address: str
    subject: str
    body: str
    unsubscribe_url: str = ""


@dataclasses.dataclass(frozen=True)
class Accepted:
    provider_message_id: str


@dataclasses.dataclass(frozen=True)
class Receipt:
    client_key: str
    provider_message_id: str
    delivered: bool
    code: str = ""
    reason: str = ""


class ProviderFailure(Exception):
    """The vendor did not take the message. ``temporary`` failures are retried with backoff."""

    temporary = True

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class TemporaryFailure(ProviderFailure):
    temporary = True


class PermanentFailure(ProviderFailure):
    temporary = False


class BadReceipt(Exception):
    """A receipt callback that is not signed by the vendor, too old, or not readable."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Provider(Protocol):
    name: str
    reports_receipts: bool

    def send(self, outgoing: Outgoing) -> Accepted: ...

    def parse_receipts(self, body: bytes, headers: Mapping[str, str]) -> list[Receipt]: ...


class DjangoEmailProvider:
    """E-mail through Django's mail backend (SMTP in production). An SMTP server's acceptance is
    all we learn, so an e-mail ends as "sent", never "delivered"."""

    name = "email"
    reports_receipts = False

    def send(self, outgoing: Outgoing) -> Accepted:
        message_id = f"<{outgoing.key}@tongban>"
        headers = {"Message-ID": message_id}
        if outgoing.unsubscribe_url:
            headers["List-Unsubscribe"] = f"<{outgoing.unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail = EmailMultiAlternatives(
            subject=outgoing.subject,
            body=outgoing.body,
            to=[outgoing.address],
            headers=headers,
            connection=get_connection(fail_silently=False),
        )
        try:
            mail.send()
        except (OSError, TimeoutError) as exc:
            raise TemporaryFailure("smtp_unavailable", f"邮件服务器暂时无法连接：{exc.__class__.__name__}") from exc
        except Exception as exc:
            # smtplib's SMTPRecipientsRefused and friends: the server refused this address.
            if exc.__class__.__name__ in {"SMTPRecipientsRefused", "SMTPSenderRefused"}:
                raise PermanentFailure("smtp_refused", "邮件服务器拒收该地址") from exc
            raise TemporaryFailure("smtp_error", f"邮件发送出错：{exc.__class__.__name__}") from exc
        return Accepted(provider_message_id=message_id)

    def parse_receipts(self, body: bytes, headers: Mapping[str, str]) -> list[Receipt]:
        raise BadReceipt("not_supported", "电子邮件通道没有回执接口")


class NoPushProvider:
    """App push is a placeholder until the provincial app's push service is connected: every push
    fails at once, permanently, so the template's fallback chain takes over."""

    name = "none"
    reports_receipts = False

    def send(self, outgoing: Outgoing) -> Accepted:
        raise PermanentFailure("push_unavailable", "App 推送通道尚未开通")

    def parse_receipts(self, body: bytes, headers: Mapping[str, str]) -> list[Receipt]:
        raise BadReceipt("not_supported", "推送通道没有回执接口")


_overrides: dict[str, Provider] = {}


def provider_override(channel: str, provider: Provider | None) -> None:
    """Put another provider on a channel (a vendor adapter under test, a fault-injecting fake);
    None puts the configured one back."""
    if provider is None:
        _overrides.pop(channel, None)
    else:
        _overrides[channel] = provider


def provider_for(channel: str) -> Provider:
    return _overrides.get(channel) or _configured(channel)


@cache
def _configured(channel: str) -> Provider:
    if channel == "sms":
        from tongban.messaging.sandbox import SandboxSmsProvider

        return SandboxSmsProvider()  # SMS_PROVIDER has one choice today: "sandbox"
    if channel == "email":
        return DjangoEmailProvider()
    if channel == "push":
        return NoPushProvider()
    raise KeyError(channel)


def provider_named(name: str) -> Provider | None:
    """The provider whose receipt endpoint is /api/v1/messages/receipts/<name>."""
    if name == "sandbox-sms" and settings.SMS_PROVIDER == "sandbox":
        return provider_for("sms")
    return None
