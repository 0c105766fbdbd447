"""The one account library: natural persons with their real-name level, enterprises and the mandates
of their people, staff roles, sign-in sessions, and the applications that sign in through our
OpenID Connect provider (django-oauth-toolkit with a swapped application model)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from oauth2_provider.models import AbstractApplication

from tongban.common.crypto import blind_index, seal, unseal


class Account(AbstractUser):  # type: ignore[django-manager-missing]  # the OIDC application model's user relation
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
    # Real-name level (STANDARDS.md): 1 registered with a verified mobile, 2 name and ID number
    # checked against the population base, 3 real person (face), 4 checked in person in a hall.
    real_name_level = models.PositiveSmallIntegerField("实名等级", default=0)
    mobile_verified_at = models.DateTimeField(null=True, blank=True)
    password_changed_at = models.DateTimeField(null=True, blank=True)
    # Staff second factor (TOTP, RFC 6238): the secret sealed at rest, confirmed once enrolled.
    totp_secret_sealed = models.TextField(blank=True, default="")
    totp_confirmed_at = models.DateTimeField(null=True, blank=True)
    totp_last_step = models.BigIntegerField(default=0)  # a code is accepted once

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
    # OAuth2 client credentials (grant "client-credentials", scope "messages") of the same system:
    # a token issued to this application authenticates like the system's API key.
    application = models.OneToOneField(
        "identity.OidcApplication", null=True, blank=True, on_delete=models.SET_NULL, related_name="api_client"
    )
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


class RealNameLevel(models.IntegerChoices):
    NONE = 0, "未实名"
    L1 = 1, "L1 注册用户"
    L2 = 2, "L2 实名用户"
    L3 = 3, "L3 实人用户"
    L4 = 4, "L4 现场核验"


class RealNameEvent(models.Model):
    """A change of a person's real-name level and how it was established."""

    class Method(models.TextChoices):
        MOBILE = "mobile", "手机号验证"
        POPULATION = "population", "人口库核验"
        FACE = "face", "人脸核验"
        HALL = "hall", "大厅现场核验"
        IMPORT = "import", "部门账号迁移"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="real_name_events")
    level_from = models.PositiveSmallIntegerField()
    level_to = models.PositiveSmallIntegerField()
    method = models.CharField(max_length=16, choices=Method.choices)
    provider_reference = models.CharField(max_length=100, blank=True)
    recorded_by = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    hall = models.ForeignKey("org.Hall", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)


class Enterprise(models.Model):
    """A legal person, identified by its unified social credit code and checked against the
    legal-person base."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    credit_code = models.CharField("统一社会信用代码", max_length=18, unique=True)
    name = models.CharField("名称", max_length=200)
    legal_rep_name = models.CharField("法定代表人", max_length=64)
    legal_rep_id_index = models.CharField(max_length=40, db_index=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "法人"
        verbose_name_plural = "法人"

    def __str__(self) -> str:
        return self.name


class Mandate(models.Model):
    """Who may act for an enterprise. The legal representative holds it by law; managers (at most
    five) are appointed by the legal representative; agents are authorised by a manager (or the
    legal representative) in full or precisely (listed items, a period). Revocation is immediate:
    every check, token introspection included, reads this row."""

    class Role(models.TextChoices):
        LEGAL_REP = "legal_rep", "法定代表人"
        MANAGER = "manager", "管理员"
        AGENT = "agent", "经办人"

    class Scope(models.TextChoices):
        FULL = "full", "全部授权"
        PRECISE = "precise", "精准授权"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    enterprise = models.ForeignKey(Enterprise, on_delete=models.CASCADE, related_name="mandates")
    grantee = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="mandates")
    role = models.CharField(max_length=16, choices=Role.choices)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.FULL)
    items = models.JSONField("授权事项（基本编码）", default=list, blank=True)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    granted_by = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    revoke_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["grantee", "revoked_at"], name="mandate_grantee_live")]


class StaffRole(models.Model):
    """A staff member's role, scoped to a department (and so to its division). Queries that list
    what staff may see filter by these rows (``identity.access``), not only the views."""

    class Role(models.TextChoices):
        WINDOW_CLERK = "window_clerk", "窗口受理人员"
        REVIEWER = "reviewer", "审核人员"
        APPROVER = "approver", "审批人员"
        DEPT_ADMIN = "dept_admin", "部门管理员"
        OPERATOR = "operator", "平台运营人员"
        AUDITOR = "auditor", "审计人员"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="staff_roles")
    role = models.CharField(max_length=16, choices=Role.choices)
    department = models.ForeignKey("org.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    granted_by = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "role", "department"], name="staff_role_unique")]


class LoginSession(models.Model):
    """One sign-in of one person on one device: the OpenID Connect ``sid``. The acting identity
    (themself, or an enterprise under a mandate) lives here and travels in tokens."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="login_sessions")
    session_key = models.CharField(max_length=40, db_index=True)
    method = models.CharField(max_length=16)  # password | otp | elicence | totp
    acting_mandate = models.ForeignKey(Mandate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    client_ip = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["account", "ended_at"], name="login_session_live")]


class OidcApplication(AbstractApplication):
    """An application that signs people in through the platform (OAUTH2_PROVIDER_APPLICATION_MODEL)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    backchannel_logout_uri = models.URLField(max_length=500, blank=True)
    allowed_scopes = models.CharField(max_length=300, default="openid profile")
    # The full ID number (scope "id_number") only for applications granted it, with the reason.
    id_number_reason = models.CharField(max_length=300, blank=True)
    department = models.ForeignKey("org.Department", null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        verbose_name = "接入应用"
        verbose_name_plural = "接入应用"


class AppSignIn(models.Model):
    """An application this login session signed into: whom single logout must reach."""

    login_session = models.ForeignKey(LoginSession, on_delete=models.CASCADE, related_name="app_sign_ins")
    application = models.ForeignKey(settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["login_session", "application"], name="app_sign_in_unique")]


class Consent(models.Model):
    """What a person agreed an application may receive; remembered until revoked."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="consents")
    application = models.ForeignKey(settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+")
    scopes = models.CharField(max_length=300)
    granted_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)


class BackchannelLogout(models.Model):
    """A logout token owed to an application (OpenID Connect Back-Channel Logout), retried."""

    class State(models.TextChoices):
        PENDING = "pending", "待通知"
        DONE = "done", "已通知"
        FAILED = "failed", "通知失败"

    application = models.ForeignKey(settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+")
    login_session = models.ForeignKey(LoginSession, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=200, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)


class TokenMandate(models.Model):
    """The mandate an access token acts under (by the token's SHA-256, as django-oauth-toolkit
    stores it), so that revoking a mandate revokes the tokens already issued under it."""

    token_checksum = models.CharField(max_length=64, unique=True)
    mandate = models.ForeignKey(Mandate, on_delete=models.CASCADE, related_name="tokens")
