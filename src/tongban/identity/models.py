"""The one account library. The full identity work (persons, enterprises, OIDC) comes later; the
custom user model is here from the first migration so that it never has to be swapped."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class Account(AbstractUser):
    class Kind(models.TextChoices):
        CITIZEN = "citizen", "自然人"
        STAFF = "staff", "部门工作人员"
        OPERATOR = "operator", "平台运营人员"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField("账号类型", max_length=16, choices=Kind.choices, default=Kind.CITIZEN)
    display_name = models.CharField("姓名", max_length=64, blank=True)
    department = models.ForeignKey("org.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="staff")

    class Meta:
        verbose_name = "账号"
        verbose_name_plural = "账号"

    @property
    def is_operator(self) -> bool:
        return self.kind == self.Kind.OPERATOR

    def __str__(self) -> str:
        return self.display_name or self.username
