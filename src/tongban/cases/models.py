"""Cases (办件): one application to one item implementation, its timeline, and the daily sequence
that numbers them (STANDARDS.md: 办件编号 = 31-char implementation code + yyyyMMdd + 4 digits)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from tongban.cases.machine import LABELS


class Case(models.Model):
    class Channel(models.IntegerChoices):
        WINDOW = 0, "窗口"
        ONLINE = 1, "网上"

    class Delivery(models.IntegerChoices):
        ELECTRONIC = 1, "电子送达"
        WINDOW = 2, "窗口领取"
        COURIER = 3, "邮寄送达"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    code = models.CharField("办件编号", max_length=43, unique=True, null=True, blank=True)  # given at submission
    implementation = models.ForeignKey("catalog.Implementation", on_delete=models.PROTECT, related_name="cases")
    # The handling department, copied from the implementation when the case is made, so that a
    # clerk's queue is one index range per department (QUALITY.md P4) instead of a join.
    department = models.ForeignKey("org.Department", null=True, on_delete=models.PROTECT, related_name="+")
    applicant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="cases")
    # An application made for an enterprise (the applicant acts under a mandate for it).
    enterprise = models.ForeignKey("identity.Enterprise", null=True, blank=True, on_delete=models.PROTECT, related_name="cases")
    # Claimed by (认领): the clerk now working on it; reassigned by a department administrator.
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    claimed_at = models.DateTimeField(null=True, blank=True)
    # One-window intake (综合窗口): the clerk who registered an in-person application.
    intake_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    delivery_method = models.PositiveSmallIntegerField(choices=Delivery.choices, default=Delivery.ELECTRONIC)
    delivery_address = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=16, choices=[(k.value, v) for k, v in LABELS.items()], default="draft")
    version = models.PositiveIntegerField(default=1)  # optimistic lock: two clerks, one wins
    channel = models.PositiveSmallIntegerField(choices=Channel.choices, default=Channel.ONLINE)
    form_data = models.JSONField(default=dict)
    submitted_at = models.DateTimeField(null=True, blank=True)
    accepted_on = models.DateField(null=True, blank=True)
    legal_limit_days = models.PositiveSmallIntegerField(default=0)
    promised_limit_days = models.PositiveSmallIntegerField(default=0)
    extension_days = models.PositiveSmallIntegerField(default=0)
    suspended_since = models.DateField(null=True, blank=True)
    suspended_working_days = models.PositiveSmallIntegerField(default=0)
    due_legal = models.DateField(null=True, blank=True)
    due_promised = models.DateField(null=True, blank=True)
    # The limit of the current step where one applies (pre-review §32, certificate after the
    # decision §44, or the implementation's own step limits), in local days.
    step_due = models.DateField(null=True, blank=True)
    # Reminders already sent to the clerks for the current limits: 0 none, 1 due soon, 2 overdue.
    reminded_stage = models.PositiveSmallIntegerField(default=0)
    conclusion = models.PositiveSmallIntegerField(null=True, blank=True)
    # Each submission (the first, and each corrected one) is a round; at most one correction
    # notice per round, listing every problem at once (§32).
    submission_round = models.PositiveSmallIntegerField(default=0)
    form = models.ForeignKey("cases.ApplicationForm", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # Anyone with the code and this password may follow the case without signing in (a hash only).
    query_password_hash = models.CharField(max_length=128, blank=True)
    # 告知承诺制: the truthfulness commitment the applicant signed, kept with the case.
    commitment_text = models.TextField(blank=True)
    commitment_signed_at = models.DateTimeField(null=True, blank=True)
    bundle_application = models.ForeignKey("cases.BundleApplication", null=True, blank=True, on_delete=models.PROTECT, related_name="cases")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "办件"
        verbose_name_plural = "办件"
        indexes = [
            models.Index(fields=["applicant", "-id"], name="case_applicant_recent"),
            models.Index(fields=["state", "due_legal"], name="case_state_due"),
            models.Index(fields=["department", "state", "id"], name="case_department_queue"),
            models.Index(fields=["department", "id"], name="case_department_all"),
            # The queue's tabs over several open states at once: one range of only the open cases,
            # instead of the department's every case filtered (P4: 40 ms to under 2 ms at 1,000,000).
            models.Index(
                fields=["department", "id"],
                name="case_department_open",
                condition=models.Q(state__in=["submitted", "correcting", "accepted", "supplementing", "suspended", "decided", "concluded"]),
            ),
            models.Index(fields=["assignee", "state", "id"], name="case_assignee_queue"),
            models.Index(fields=["enterprise", "-id"], name="case_enterprise_recent"),
        ]

    def save(self, *args: object, **kwargs: object) -> None:
        if self.department_id is None and self.implementation_id is not None:
            from tongban.catalog.models import Implementation

            self.department_id = Implementation.objects.filter(pk=self.implementation_id).values_list("department_id", flat=True).first()
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class CaseEvent(models.Model):
    """One step of a case's timeline, as staff and, in plain Chinese, the applicant see it."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=32)
    from_state = models.CharField(max_length=16)
    to_state = models.CharField(max_length=16)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor_kind = models.CharField(max_length=16)
    opinion = models.TextField(blank=True)
    step_result = models.PositiveSmallIntegerField(null=True, blank=True)
    conclusion = models.PositiveSmallIntegerField(null=True, blank=True)
    # STANDARDS.md special steps: 1 补齐补正, 2 听证, 3 公示, 4 核实, 5 挂起, 6 预审补正.
    special_step = models.PositiveSmallIntegerField(null=True, blank=True)
    # The handling department at this step (national exchange: 办理部门).
    department = models.ForeignKey("org.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["case", "id"], name="case_event_timeline")]


class CaseDaySequence(models.Model):
    """The last number given to a case of one implementation on one day. Incremented under the row
    lock of an UPDATE, so two submissions at once never get the same number (gaps are allowed:
    a rolled-back submission leaves one)."""

    implementation_code = models.CharField(max_length=31)
    day = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["implementation_code", "day"], name="case_day_sequence_unique")]


class CorrectionNotice(models.Model):
    """The one-time complete correction notice (一次性告知): every problem of one submission round
    in one notice, each against a material of the item's list with a reason."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="correction_notices")
    submission_round = models.PositiveSmallIntegerField()
    problems = models.JSONField()  # [{"material": "...", "reason": "...", "new_in_correction": bool}]
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "submission_round"], name="one_notice_per_round")]


class ApplicationForm(models.Model):
    """An implementation's application form: a JSON Schema plus layout hints (steps, labels, which
    fields fill from the applicant's verified identity), versioned: a case keeps the version it was
    filled with."""

    implementation = models.ForeignKey("catalog.Implementation", on_delete=models.CASCADE, related_name="application_forms")
    version = models.PositiveIntegerField()
    schema = models.JSONField()
    layout = models.JSONField(default=dict)
    is_current = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["implementation", "version"], name="application_form_version_unique")]


class BundleApplication(models.Model):
    """One "one thing done once" application (一件事一次办): one form, one set of materials, and a
    case per item of the bundle, started in the order of their dependencies."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    bundle = models.ForeignKey("catalog.Bundle", on_delete=models.PROTECT, related_name="applications")
    applicant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bundle_applications")
    form_data = models.JSONField(default=dict)
    submitted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class StoredFile(models.Model):
    """A file an applicant or a clerk uploaded (a material, a scan, a result document), stored
    through Django's storage API. Its type is what its content says, not what its name claims.
    Files an applicant keeps ``in_library`` can be reused in later applications (材料库)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="stored_files")
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=80)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to="files/%Y/%m/", max_length=300)
    in_library = models.BooleanField(default=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "in_library", "-id"], name="stored_file_library")]


class CaseMaterial(models.Model):
    """One material of a case against the item's material list: an uploaded or reused file, a
    scan made at the window, or the slot an electronic licence will fill (免提交)."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "本次上传"
        LIBRARY = "library", "材料库复用"
        LICENCE = "licence", "电子证照"
        WINDOW_SCAN = "window_scan", "窗口扫描"
        PAPER = "paper", "纸质材料"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="materials")
    material = models.ForeignKey("catalog.Material", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=200)  # the material's name when it was given
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.UPLOAD)
    file = models.ForeignKey(StoredFile, null=True, blank=True, on_delete=models.PROTECT, related_name="uses")
    licence_type = models.CharField(max_length=120, blank=True)  # the e-licence type that will fill this slot
    licence_ref = models.CharField(max_length=120, blank=True)  # the licence identifier, once wired up
    submission_round = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["case", "material"], name="case_material_slot")]


class CaseDocument(models.Model):
    """A document the handling produced: the written acceptance or refusal receipt (受理/不予受理
    通知书, generated as PDF; the seals issue stamps it), a correction notice, or a result
    document a department system attached."""

    class Kind(models.TextChoices):
        ACCEPT_RECEIPT = "accept_receipt", "受理通知书"
        REFUSE_RECEIPT = "refuse_receipt", "不予受理通知书"
        CORRECTION = "correction", "补正告知书"
        RESULT = "result", "办理结果"
        OTHER = "other", "其他"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    title = models.CharField(max_length=200)
    file = models.ForeignKey(StoredFile, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    client = models.ForeignKey("identity.ApiClient", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)


class CaseWebhook(models.Model):
    """A case event owed to a department system (new case, changed case), posted to the client's
    callback URL, signed, retried with backoff; the event id lets the receiver drop repeats."""

    class State(models.TextChoices):
        PENDING = "pending", "待推送"
        DONE = "done", "已推送"
        FAILED = "failed", "推送失败"

    client = models.ForeignKey("identity.ApiClient", on_delete=models.CASCADE, related_name="case_webhooks")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    event_id = models.UUIDField(default=uuid.uuid4, unique=True)
    event = models.CharField(max_length=32)  # case.created, case.changed
    payload = models.JSONField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="case_webhook_due")]
