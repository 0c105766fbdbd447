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

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    code = models.CharField("办件编号", max_length=43, unique=True, null=True, blank=True)  # given at submission
    implementation = models.ForeignKey("catalog.Implementation", on_delete=models.PROTECT, related_name="cases")
    applicant = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="cases")
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
        ]


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
    at = models.DateTimeField(auto_now_add=True)


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
