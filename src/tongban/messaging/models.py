"""The message centre's data: templates and their versions, messages, one delivery per channel with
its attempts, the inbox, preferences, callbacks owed to department systems, one-time codes, and the
sandbox SMS gateway's own log (what it "sent")."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Category(models.TextChoices):
    CASE_PROGRESS = "case_progress", "办件进度"
    LICENCE_EXPIRY = "licence_expiry", "证照到期"
    ACCOUNT_SECURITY = "account_security", "账户安全"
    NEW_SERVICES = "new_services", "新服务上线"
    POLICY = "policy", "政策推送"


# Security messages (one-time codes, account changes) ignore quiet hours and cannot be switched off.
MANDATORY_CATEGORIES = frozenset({Category.ACCOUNT_SECURITY})


class Channel(models.TextChoices):
    INBOX = "inbox", "站内消息"
    SMS = "sms", "短信"
    EMAIL = "email", "电子邮件"
    PUSH = "push", "App 推送"


# Channels that reach a person's pocket and so wait out quiet hours.
INTRUSIVE_CHANNELS = frozenset({Channel.SMS, Channel.PUSH})


class Template(models.Model):
    """A named message. Its text lives in versions; a send always uses the current version and the
    message keeps a reference to the version it used."""

    code = models.SlugField("模板代码", max_length=64, unique=True)
    name = models.CharField("模板名称", max_length=100)
    category = models.CharField("消息类别", max_length=32, choices=Category.choices)
    # Templates owned by a department may be sent by that department's API clients; platform
    # templates (department empty) only by the platform's own domains.
    department = models.ForeignKey("org.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="message_templates")
    # {"sms": ["inbox", "email"]}: when the SMS delivery ends failed or expired, deliver on these.
    fallback = models.JSONField("失败转投", default=dict, blank=True)
    ttl_minutes = models.PositiveIntegerField("有效时长（分钟）", default=24 * 60)
    is_active = models.BooleanField("启用", default=True)
    current_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "消息模板"
        verbose_name_plural = "消息模板"

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class TemplateVersion(models.Model):
    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    # [{"name": "case_code", "type": "code", "label": "办件编号", "max_length": 43}, ...]
    placeholders = models.JSONField(default=list)
    inbox_title = models.CharField(max_length=100, blank=True)
    inbox_body = models.TextField(blank=True)
    link = models.CharField("站内链接", max_length=300, blank=True)
    sms_body = models.TextField(blank=True)
    email_subject = models.CharField(max_length=200, blank=True)
    email_body = models.TextField(blank=True)
    push_title = models.CharField(max_length=60, blank=True)
    push_body = models.CharField(max_length=200, blank=True)
    note = models.CharField("修改说明", max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["template", "version"], name="template_version_unique")]

    def channels(self) -> list[str]:
        present = []
        if self.inbox_body:
            present.append(Channel.INBOX.value)
        if self.sms_body:
            present.append(Channel.SMS.value)
        if self.email_body:
            present.append(Channel.EMAIL.value)
        if self.push_body:
            present.append(Channel.PUSH.value)
        return present


class Message(models.Model):
    """One request to tell one person something. Its deliveries carry the state per channel."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    template_version = models.ForeignKey(TemplateVersion, on_delete=models.PROTECT, related_name="messages")
    category = models.CharField(max_length=32, choices=Category.choices)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="messages")
    # Sealed address for sends to someone without an account yet (a one-time code to a new number).
    direct_address_sealed = models.TextField(blank=True)
    data = models.JSONField(default=dict)
    reason = models.CharField("发送事由", max_length=200)
    client = models.ForeignKey("identity.ApiClient", null=True, blank=True, on_delete=models.PROTECT, related_name="messages")
    client_reference = models.CharField(max_length=100, blank=True)
    idempotency_key = models.CharField(max_length=100, blank=True)
    is_test = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="message_idempotency_unique",
            )
        ]
        indexes = [
            models.Index(fields=["client", "-id"], name="message_client_recent"),
            models.Index(fields=["recipient", "-id"], name="message_recipient_recent"),
        ]


class Delivery(models.Model):
    class State(models.TextChoices):
        CREATED = "created", "待发送"
        SENDING = "sending", "发送中"
        SENT = "sent", "已发出"
        DELIVERED = "delivered", "已送达"
        FAILED = "failed", "发送失败"
        EXPIRED = "expired", "已过期"

    TERMINAL = frozenset({State.DELIVERED, State.FAILED, State.EXPIRED})

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="deliveries")
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # names it in queued tasks
    channel = models.CharField(max_length=8, choices=Channel.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.CREATED)
    address_sealed = models.TextField(blank=True)
    address_masked = models.CharField(max_length=100, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    segments = models.PositiveSmallIntegerField(default=0)
    provider = models.CharField(max_length=32, blank=True)
    provider_message_id = models.CharField(max_length=100, blank=True, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)  # the queued task that will try it next
    not_before = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    failure_code = models.CharField(max_length=40, blank=True)
    failure_reason = models.CharField(max_length=200, blank=True)
    fallback_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="fallbacks")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "lease_until"], name="delivery_state_lease"),
            models.Index(fields=["channel", "created_at"], name="delivery_channel_time"),
        ]


class DeliveryAttempt(models.Model):
    """One try at handing a delivery to its provider. ``key`` is the idempotency key the provider
    sees: a retry after a crash reuses the unfinished attempt's key, so the provider can tell a
    repeat from a new message."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    key = models.UUIDField(default=uuid.uuid4, unique=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, blank=True)  # accepted | retry | failed
    provider_message_id = models.CharField(max_length=100, blank=True)
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="attempt_number_unique")]


class InboxItem(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox")
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="inbox_item")
    category = models.CharField(max_length=32, choices=Category.choices)
    title = models.CharField(max_length=100)
    body = models.TextField()
    link = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["account", "archived_at", "-id"], name="inbox_account_list"),
            models.Index(fields=["account", "read_at"], name="inbox_account_unread", condition=models.Q(read_at=None, archived_at=None)),
        ]


class Preference(models.Model):
    """A person's choices. ``channels`` maps a category to the outside channels they want; a missing
    category takes the defaults. The inbox is always kept: it is the record, and it never rings."""

    account = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="message_preference")
    channels = models.JSONField(default=dict)
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class Callback(models.Model):
    """A status report owed to a department system's callback URL, posted with retries."""

    class State(models.TextChoices):
        PENDING = "pending", "待推送"
        DONE = "done", "已推送"
        FAILED = "failed", "推送失败"

    client = models.ForeignKey("identity.ApiClient", on_delete=models.CASCADE, related_name="callbacks")
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="callbacks")
    event_id = models.UUIDField(default=uuid.uuid4, unique=True)
    payload = models.JSONField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)


class OneTimeCode(models.Model):
    """A 6-digit code sent to a mobile number. Only a keyed digest of the code is kept."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    purpose = models.CharField(max_length=32)
    mobile_index = models.CharField(max_length=40)
    code_digest = models.CharField(max_length=64)
    client_ip = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    failed_checks = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["mobile_index", "purpose", "-created_at"], name="otp_mobile_recent"),
            models.Index(fields=["client_ip", "-created_at"], name="otp_ip_recent"),
        ]


class SandboxSms(models.Model):
    """The sandbox SMS gateway's own records: what it accepted, and the receipt it will report.
    It stands for the vendor's side of the wire; the platform reads it only on the console page."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "待回执"
        DELIVERED = "delivered", "已送达"
        FAILED = "failed", "失败"

    provider_message_id = models.CharField(max_length=40, unique=True)
    client_key = models.CharField(max_length=64, unique=True)
    mobile_masked = models.CharField(max_length=20)
    text = models.TextField()
    segments = models.PositiveSmallIntegerField()
    accepted_at = models.DateTimeField(auto_now_add=True)
    report_after = models.DateTimeField()
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.PENDING)
    outcome_code = models.CharField(max_length=20, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    report_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["reported_at", "report_after"], name="sandbox_sms_due")]
