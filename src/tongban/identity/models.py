"""The one account library. The full identity work (persons, enterprises, OIDC) comes later; the
custom user model is here from the first migration so that it never has to be swapped."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models

from tongban.common.crypto import blind_index, seal, unseal


class Account(AbstractUser):
    class Kind(models.TextChoices):
        CITIZEN = "citizen", "自然人"
        STAFF = "staff", "部门工作人员"
        OPERATOR = "operator", "平台运营人员"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField("账号类型", max_length=16, choices=Kind.choices, default=Kind.CITIZEN)
    display_name = models.CharField("姓名", max_length=64, blank=True)
    department = models.ForeignKey("org.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="staff")
    # Personal data, sealed at rest (common/crypto.py) with a blind index for lookup.
    mobile_sealed = models.TextField(blank=True, default="")
    mobile_index = models.CharField(max_length=40, blank=True, default="", db_index=True)
    id_number_sealed = models.TextField(blank=True, default="")
    id_number_index = models.CharField(max_length=40, blank=True, default="", db_index=True)

    class Meta:
        verbose_name = "账号"
        verbose_name_plural = "账号"

    @property
    def mobile(self) -> str:
        return unseal(self.mobile_sealed, context="account.mobile") if self.mobile_sealed else ""

    @mobile.setter
    def mobile(self, value: str) -> None:
        self.mobile_sealed = seal(value, context="account.mobile") if value else ""
        self.mobile_index = blind_index(value, kind="mobile") if value else ""

    @property
    def id_number(self) -> str:
        return unseal(self.id_number_sealed, context="account.id_number") if self.id_number_sealed else ""

    @id_number.setter
    def id_number(self, value: str) -> None:
        value = value.upper()
        self.id_number_sealed = seal(value, context="account.id_number") if value else ""
        self.id_number_index = blind_index(value, kind="id_number") if value else ""

    @property
    def is_operator(self) -> bool:
        return self.kind == self.Kind.OPERATOR

    def __str__(self) -> str:
        return self.display_name or self.username


class ApiClient(models.Model):
    """A department system that calls the platform's partner API (/api/v1/messages and later ones).

    Until the identity issue brings OAuth2 client credentials, a client authenticates with an API key
    (``ApiKey``); the client record, its department, rate limit and callback stay as they are when
    OAuth2 replaces the key.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField("系统名称", max_length=100, unique=True)
    department = models.ForeignKey("org.Department", on_delete=models.PROTECT, related_name="api_clients")
    rate_limit_per_minute = models.PositiveIntegerField("每分钟调用上限", default=3000)
    callback_url = models.URLField("状态回调地址", max_length=500, blank=True)
    callback_secret = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "接入系统"
        verbose_name_plural = "接入系统"

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """A secret a client presents as ``Authorization: Bearer tb_<kind>_<prefix><secret>``. Only a
    SHA-256 of the whole key is kept (the key is 256 random bits, so a slow hash adds nothing).
    A ``test`` key exercises the API for real but its messages go nowhere."""

    class Kind(models.TextChoices):
        LIVE = "live", "正式"
        TEST = "test", "测试"

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="keys")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    prefix = models.CharField(max_length=12, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "接口密钥"
        verbose_name_plural = "接口密钥"
