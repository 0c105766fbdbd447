"""Tongban settings: every value comes from the environment (see docs/configuration.md)."""

from __future__ import annotations

import base64
import datetime
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import dj_database_url

from tongban.config.env import ConfigError, env_bool, env_choice, env_int, env_list, env_str

PACKAGE_DIR = Path(__file__).resolve().parent.parent

DATA_DIR = Path(env_str("DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment; on a developer machine, a key kept in DATA_DIR.

    Production sets SECRET_KEY explicitly. Without it a random key is generated once and
    kept (mode 0600) in DATA_DIR so that sessions survive restarts of `make demo`.
    """
    value = os.environ.get("SECRET_KEY")
    if value is not None:
        if len(value) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters")
        return value
    return _kept_secret("secret_key", lambda: secrets.token_urlsafe(50))


def _kept_secret(name: str, make: Callable[[], str]) -> str:
    """A secret generated once and kept (mode 0600) in DATA_DIR: only for machines that set none."""
    key_file = DATA_DIR / name
    if not key_file.exists():
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            return key_file.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(make())
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# Personal data at rest (common/crypto.py): AES-256-GCM keys, newest first, base64url of 32 bytes each,
# and the key of the blind indexes (never change it: existing indexes would stop matching).
FIELD_KEYS = env_list("FIELD_KEYS", []) or [_kept_secret("field_key", lambda: base64.urlsafe_b64encode(os.urandom(32)).decode())]
for _key in FIELD_KEYS:
    if len(base64.urlsafe_b64decode(_key)) != 32:
        raise ConfigError("FIELD_KEYS: each key must be 32 bytes, base64url-encoded")
BLIND_INDEX_KEY = env_str("BLIND_INDEX_KEY", "") or _kept_secret("blind_index_key", lambda: secrets.token_urlsafe(32))
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "tongban.common",
    "tongban.org",
    "tongban.identity",
    "tongban.catalog",
    "tongban.search",
    "tongban.messaging",
    "tongban.cases",
    "oauth2_provider",
    "tongban.web",
    "tongban.commands",
    "axes",  # last, as its documentation asks
]

MIDDLEWARE = [
    "tongban.common.observability.RequestIdMiddleware",
    "tongban.common.observability.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "tongban.common.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "tongban.web.middleware.SessionPolicyMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "tongban.config.urls"
WSGI_APPLICATION = "tongban.config.wsgi.application"

TEMPLATES = [
    # The public portal (web/jinja2/portal/): Jinja2, several times faster to render than the
    # Django template language. Autoescaping is always on (tongban.web.jinja); `request`, `csrf_input`
    # and `csrf_token` come from the backend, the rest from tongban.web.jinja and the processor below.
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "environment": "tongban.web.jinja.environment",
            "context_processors": ["tongban.web.context.portal"],
        },
    },
    # The operator console (web/templates/console/) and Django's admin.
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": False,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tongban.web.context.portal",
            ],
            # Cached loaders even with DEBUG off is Django's default; listed so the
            # app-directory templates (web/, admin) are found.
            "loaders": [
                (
                    "django.template.loaders.cached.Loader",
                    ["django.template.loaders.app_directories.Loader"],
                )
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------
_default_db = f"sqlite:///{DATA_DIR / 'tongban.sqlite3'}"
DATABASE_URL = env_str("DATABASE_URL", _default_db)
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 600, minimum=0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside one writer; IMMEDIATE transactions take the write lock at
    # BEGIN so two writers queue on busy_timeout instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0 if DATABASES["default"]["NAME"] == ":memory:" else 600
    # Tests use a file, not Django's shared in-memory database, so that threads, the live server
    # and concurrency tests see WAL and locking exactly as production does.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    if env_bool("DB_PREPARED_STATEMENTS", True):
        # Server-side parameters and prepared statements: the hot paths repeat the same few query
        # shapes, and skipping the planner halves search latency (measured, ADR 0003). Turn off
        # behind a connection pooler that cannot keep prepared statements (pgbouncer < 1.21).
        DATABASES["default"]["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": env_int("DB_PREPARE_THRESHOLD", 2, minimum=0)}
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env_str("DATABASE_TEST_NAME", "test_tongban")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache, sessions -------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "tongban",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
    SESSION_ENGINE = "django.contrib.sessions.backends.cache"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tongban"}}
    SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- background work --------------------------------------------------------------------
# One queue per outside channel so a slow SMS gateway never holds up e-mail, push or callbacks.
TASK_QUEUES = ["default", "messages-sms", "messages-email", "messages-push", "callbacks"]
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": TASK_QUEUES}}

# --- message centre -----------------------------------------------------------------------
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
SMS_PROVIDER = env_choice("SMS_PROVIDER", "sandbox", {"sandbox"})
SMS_SIGNATURE = env_str("SMS_SIGNATURE", "【通办】")
SMS_MAX_SEGMENTS = env_int("SMS_MAX_SEGMENTS", 4, minimum=1)
SMS_SANDBOX_SECRET = env_str("SMS_SANDBOX_SECRET", "") or _kept_secret("sms_sandbox_secret", lambda: secrets.token_hex(32))
SMS_SANDBOX_CALLBACK_URL = env_str("SMS_SANDBOX_CALLBACK_URL", f"{PUBLIC_BASE_URL}/api/v1/messages/receipts/sandbox-sms")
SMS_SANDBOX_FAILURE_RATE = float(env_str("SMS_SANDBOX_FAILURE_RATE", "0.05"))
if not 0 <= SMS_SANDBOX_FAILURE_RATE <= 1:
    raise ConfigError("SMS_SANDBOX_FAILURE_RATE must be between 0 and 1")
SMS_SANDBOX_MAX_PER_SECOND = env_int("SMS_SANDBOX_MAX_PER_SECOND", 50, minimum=1)
SMS_SANDBOX_LATENCY_MS = env_int("SMS_SANDBOX_LATENCY_MS", 80, minimum=0)
SMS_SANDBOX_RECEIPT_SECONDS = env_int("SMS_SANDBOX_RECEIPT_SECONDS", 3, minimum=0)
PUSH_PROVIDER = env_choice("PUSH_PROVIDER", "none", {"none"})
MESSAGING_MAX_ATTEMPTS = env_int("MESSAGING_MAX_ATTEMPTS", 5, minimum=1)
MESSAGING_RETRY_SECONDS = env_int("MESSAGING_RETRY_SECONDS", 15, minimum=0)
WORKER_SMS_THREADS = env_int("WORKER_SMS_THREADS", 4, minimum=1)
WORKER_EMAIL_THREADS = env_int("WORKER_EMAIL_THREADS", 2, minimum=1)
MESSAGING_SEND_CONCURRENCY = env_int("MESSAGING_SEND_CONCURRENCY", 8, minimum=1)
MESSAGING_LEASE_SECONDS = env_int("MESSAGING_LEASE_SECONDS", 60, minimum=1)
MESSAGING_RECEIPT_TIMEOUT_HOURS = env_int("MESSAGING_RECEIPT_TIMEOUT_HOURS", 72, minimum=1)
CALLBACK_MAX_ATTEMPTS = env_int("CALLBACK_MAX_ATTEMPTS", 8, minimum=1)
CALLBACK_TIMEOUT_SECONDS = env_int("CALLBACK_TIMEOUT_SECONDS", 5, minimum=1)
OTP_TTL_SECONDS = env_int("OTP_TTL_SECONDS", 300, minimum=30)
OTP_RESEND_SECONDS = env_int("OTP_RESEND_SECONDS", 60, minimum=0)
OTP_MAX_CHECKS = env_int("OTP_MAX_CHECKS", 5, minimum=1)
OTP_PER_MOBILE_PER_HOUR = env_int("OTP_PER_MOBILE_PER_HOUR", 5, minimum=1)
OTP_PER_IP_PER_HOUR = env_int("OTP_PER_IP_PER_HOUR", 30, minimum=1)
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if env_str("EMAIL_HOST", "") else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = str(DATA_DIR / "mail")
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "通办 <noreply@tongban.localhost>")

# --- single sign-on (django-oauth-toolkit as OpenID Connect provider) --------------------------


def _oidc_keys() -> tuple[str, list[str]]:
    """The RS256 signing key and the keys still published for verification after a rotation
    (`tongban oidc-keys rotate`). From OIDC_RSA_PRIVATE_KEY (PEM) or DATA_DIR/oidc/."""
    given = env_str("OIDC_RSA_PRIVATE_KEY", "")
    directory = DATA_DIR / "oidc"
    directory.mkdir(exist_ok=True)
    inactive = [path.read_text() for path in sorted(directory.glob("inactive-*.pem"))]
    if given:
        return given, inactive

    def make() -> str:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()

    return _kept_secret("oidc/active.pem", make) + "\n", inactive


OIDC_ACTIVE_KEY, OIDC_INACTIVE_KEYS = _oidc_keys()
OAUTH2_PROVIDER_APPLICATION_MODEL = "identity.OidcApplication"
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": OIDC_ACTIVE_KEY,
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": OIDC_INACTIVE_KEYS,
    "OIDC_ISS_ENDPOINT": f"{PUBLIC_BASE_URL}/o",
    "OAUTH2_VALIDATOR_CLASS": "tongban.identity.oidc.Validator",
    # RFC 9700: PKCE for every code flow, S256 only; refresh tokens rotate and a reused one
    # revokes the whole family.
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,  # only hashes of access and refresh tokens are stored
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "ACCESS_TOKEN_EXPIRE_SECONDS": env_int("OIDC_ACCESS_TOKEN_SECONDS", 600, minimum=60),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env_int("OIDC_REFRESH_TOKEN_SECONDS", 7 * 24 * 3600, minimum=600),
    "ID_TOKEN_EXPIRE_SECONDS": 600,
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": True,
    "SCOPES": {
        "openid": "登录身份标识",
        "profile": "姓名（脱敏）和实名等级",
        "phone": "手机号码（脱敏）",
        "enterprise": "您当前代表的企业及授权",
        "id_number": "完整的公民身份号码",
        "messages": "通过统一消息中心向平台用户发送消息（部门系统，客户端凭证）",
        "cases": "拉取本部门办件、办理并上传结果文书（部门系统，客户端凭证）",
    },
    "DEFAULT_SCOPES": ["openid"],
    "REQUEST_APPROVAL_PROMPT": "auto",
}
BACKCHANNEL_LOGOUT_MAX_ATTEMPTS = env_int("BACKCHANNEL_LOGOUT_MAX_ATTEMPTS", 6, minimum=1)

# --- identity ---------------------------------------------------------------------------
AUTH_USER_MODEL = "identity.Account"
PASSWORD_HASHERS = ["tongban.identity.hashers.Argon2idHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "portal:login"  # where /o/authorize sends people who are not signed in; the console has its own
LOGIN_REDIRECT_URL = "console:home"
# Idle timeouts (QUALITY.md): citizens 30 minutes, staff 15 (SessionPolicyMiddleware shortens theirs).
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_SECONDS", 30 * 60, minimum=60)
STAFF_SESSION_IDLE_SECONDS = env_int("STAFF_SESSION_IDLE_SECONDS", 15 * 60, minimum=60)
STAFF_PASSWORD_MAX_AGE_DAYS = env_int("STAFF_PASSWORD_MAX_AGE_DAYS", 90, minimum=1)
# Lockout after repeated failures on username and client address combined (django-axes): people
# behind one NAT do not lock each other out, and a username cannot be locked from anywhere.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "tongban.common.ratelimit.axes_client_ip"
AXES_VERBOSE = False
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_LOCKOUT_CALLABLE = "tongban.web.portal.account.locked_out"  # a friendly page with status 429
# Natural persons (identity/persons.py): the population base (L2) and face verification (L3) in
# identity/population.py.
POPULATION_PROVIDER = env_choice("POPULATION_PROVIDER", "sandbox", {"sandbox"})
POPULATION_TIMEOUT_MS = env_int("POPULATION_TIMEOUT_MS", 5000, minimum=100)
POPULATION_SANDBOX_LATENCY_MS = env_int("POPULATION_SANDBOX_LATENCY_MS", 300, minimum=0)
POPULATION_SANDBOX_OUTAGE = env_bool("POPULATION_SANDBOX_OUTAGE", False)
SESSION_SAVE_EVERY_REQUEST = True  # idle timeout: each request pushes expiry forward
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Enterprises (identity/legal_persons.py): the legal-person base and the e-business-licence app.
LEGAL_PERSON_PROVIDER = env_choice("LEGAL_PERSON_PROVIDER", "sandbox", {"sandbox"})
LEGAL_PERSON_SANDBOX_LATENCY_MS = env_int("LEGAL_PERSON_SANDBOX_LATENCY_MS", 120, minimum=0)
LEGAL_PERSON_SANDBOX_OUTAGE = env_bool("LEGAL_PERSON_SANDBOX_OUTAGE", False)
ELICENCE_PROVIDER = env_choice("ELICENCE_PROVIDER", "sandbox", {"sandbox"})
ELICENCE_SANDBOX_SECRET = env_str("ELICENCE_SANDBOX_SECRET", "") or _kept_secret("elicence_sandbox_secret", lambda: secrets.token_hex(32))
ELICENCE_SANDBOX_PIN = env_str("ELICENCE_SANDBOX_PIN", "135790")
ELICENCE_SANDBOX_LATENCY_MS = env_int("ELICENCE_SANDBOX_LATENCY_MS", 200, minimum=0)
ELICENCE_SANDBOX_OUTAGE = env_bool("ELICENCE_SANDBOX_OUTAGE", False)
ELICENCE_CHALLENGE_SECONDS = env_int("ELICENCE_CHALLENGE_SECONDS", 300, minimum=30)
ELICENCE_ASSERTION_SECONDS = env_int("ELICENCE_ASSERTION_SECONDS", 120, minimum=10)

# --- security -----------------------------------------------------------------------------
HTTPS = env_bool("HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = 31536000 if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_SSL_REDIRECT = HTTPS and env_bool("SECURE_SSL_REDIRECT", True)
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("UPLOAD_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE

# --- i18n, time ---------------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- static files -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Uploaded materials and generated documents go through Django's storage API: local disk under
# DATA_DIR/media by default, S3-compatible object storage (django-storages, `pip install -e '.[s3]'`)
# when FILE_STORAGE=s3.
FILE_STORAGE = env_choice("FILE_STORAGE", "local", {"local", "s3"})
_default_storage: dict[str, object] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": str(DATA_DIR / "media")},
}
if FILE_STORAGE == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("S3_BUCKET"),
            "endpoint_url": env_str("S3_ENDPOINT_URL", "") or None,
            "region_name": env_str("S3_REGION", "") or None,
            "access_key": env_str("S3_ACCESS_KEY", "") or None,
            "secret_key": env_str("S3_SECRET_KEY", "") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": 300,
            "file_overwrite": False,
        },
    }
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("STATIC_MANIFEST", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_MAX_AGE = 3600

# --- observability ------------------------------------------------------------------------
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"})
LOG_FORMAT = env_choice("LOG_FORMAT", "json", {"json", "text"})
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "tongban.common.observability.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "jieba": {"level": "WARNING"},
    },
}

# --- Tongban ------------------------------------------------------------------------------
# Province whose platform this is (GB/T 2260 code); the demo loads Jiangxi.
PROVINCE_CODE = env_str("PROVINCE_CODE", "360000")
# Workbench lights: a case turns yellow this many working days before its limit.
CLOCK_YELLOW_WORKING_DAYS = env_int("CLOCK_YELLOW_WORKING_DAYS", 1, minimum=0)
# Case materials: the largest file, how many files one material and one case may have, and the
# content types accepted (sniffed from the bytes, not taken from the name).
MATERIAL_MAX_BYTES = env_int("MATERIAL_MAX_BYTES", 10 * 1024 * 1024, minimum=1024)
MATERIAL_MAX_FILES_PER_MATERIAL = env_int("MATERIAL_MAX_FILES_PER_MATERIAL", 5, minimum=1, maximum=50)
MATERIAL_MAX_FILES_PER_CASE = env_int("MATERIAL_MAX_FILES_PER_CASE", 30, minimum=1, maximum=500)
MATERIAL_TYPES = env_list("MATERIAL_TYPES", ["pdf", "jpg", "png"])
# Case events posted to department systems: tries before a webhook is marked failed.
CASE_WEBHOOK_MAX_ATTEMPTS = env_int("CASE_WEBHOOK_MAX_ATTEMPTS", 8, minimum=1, maximum=20)
SEARCH_MAX_QUERY_CHARS = env_int("SEARCH_MAX_QUERY_CHARS", 100, minimum=10, maximum=1000)
KIOSK_IDLE_SECONDS = env_int("KIOSK_IDLE_SECONDS", 90, minimum=15)
# Requests per minute per client address for search and other public reads; 0 disables.
RATE_LIMIT_SEARCH_PER_MINUTE = env_int("RATE_LIMIT_SEARCH_PER_MINUTE", 600, minimum=0)
