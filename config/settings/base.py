"""Settings shared by every environment; everything that differs comes from the environment."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# The embedded services (config/embedded.py) write their URLs here while they run, so
# `manage.py shell` and friends find them; real environment variables always win.
environ.Env.read_env(BASE_DIR / "var" / "embedded.env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
BASE_URL = env.str("BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_rq",
    "profiles",
    "channels",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/itinera")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# PostgreSQL's JIT costs more than it saves on these short queries (segment counts included).
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

# Queues split by kind of work so sends, launches and sweeps scale separately.
RQ_QUEUES = {
    name: {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 3600}
    for name in ("default", "events", "launch", "send", "sweep", "imports")
}
RQ_SHOW_ADMIN_LINK = True

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="smtp://127.0.0.1:1025")
vars().update(EMAIL_CONFIG)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Itinera <campaigns@example.com>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Email through an ESP's API instead of SMTP (the optional extra: pip install -e ".[esp]"):
# EMAIL_BACKEND=anymail.backends.<esp>.EmailBackend, and anymail's settings as ANYMAIL_<NAME>
# variables, e.g. ANYMAIL_POSTMARK_SERVER_TOKEN (read into the ANYMAIL dict).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default=EMAIL_CONFIG["EMAIL_BACKEND"])
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in env.ENVIRON.items() if name.startswith("ANYMAIL_")
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["profiles.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["profiles.authentication.HasTokenScope"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Itinera API",
    "DESCRIPTION": "Profiles, segments, campaigns and deliveries.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The campaign list and detail share the status choices: one named enum, not a hash.
    "ENUM_NAME_OVERRIDES": {"CampaignStatusEnum": "campaigns.models.CampaignStatus"},
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SERVE_AUTHENTICATION": [
        "rest_framework.authentication.SessionAuthentication",
        "profiles.authentication.ApiTokenAuthentication",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Itinera ---------------------------------------------------------------------------
# Deliveries are claimed and sent in batches of this size; one SMTP connection per batch.
SEND_BATCH_SIZE = env.int("SEND_BATCH_SIZE", default=200)
# How many send jobs a launch fans out to, so several workers share one campaign.
SEND_PARALLELISM = env.int("SEND_PARALLELISM", default=4)
# Profiles per INSERT … SELECT chunk when a campaign's audience is materialized.
LAUNCH_CHUNK_SIZE = env.int("LAUNCH_CHUNK_SIZE", default=50_000)
# A delivery left in "sending" longer than this belongs to a worker that died mid-batch.
SEND_LEASE_SECONDS = env.int("SEND_LEASE_SECONDS", default=600)
# Journey limits, checked when a campaign is published.
JOURNEY_MAX_STEPS = env.int("JOURNEY_MAX_STEPS", default=50)
JOURNEY_MAX_WAIT_DAYS = env.int("JOURNEY_MAX_WAIT_DAYS", default=90)
# Where the local SMTP sink of `make run` writes what it captures (shown in the UI).
MAIL_CAPTURE_DIR = env.str("MAIL_CAPTURE_DIR", default="") or None
# Liquid limits for marketer-written templates (they are untrusted code).
TEMPLATE_MAX_OUTPUT_BYTES = env.int("TEMPLATE_MAX_OUTPUT_BYTES", default=2_000_000)
TEMPLATE_LOOP_LIMIT = env.int("TEMPLATE_LOOP_LIMIT", default=10_000)
# Messages live in the session, not a cookie: an API token's secret is shown once as a message.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- Profiles and events (issue #3) ------------------------------------------------------
MEDIA_ROOT = env.str("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))
MEDIA_URL = "/media/"  # never served publicly: imports and exports are downloaded through views
# Attribute keys with no declared definition: "store" them untyped, or "reject" the write.
PROFILE_UNKNOWN_ATTRIBUTES = env.str("PROFILE_UNKNOWN_ATTRIBUTES", default="store")
# Per channel, what an unknown consent means: "opt_out" regime = may send until the profile
# opts out; "opt_in" regime = may send only after an explicit opt-in.
CONSENT_REGIMES = {
    "email": env.str("CONSENT_EMAIL", default="opt_out"),
    "sms": env.str("CONSENT_SMS", default="opt_in"),
    "push": env.str("CONSENT_PUSH", default="opt_in"),
    "mail": env.str("CONSENT_MAIL", default="opt_out"),
}
# Events older than this are refused at ingestion and their monthly partitions dropped.
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=395)
# How far ahead of the server clock an event's occurred_at may be (client clock skew).
EVENT_MAX_FUTURE_SECONDS = env.int("EVENT_MAX_FUTURE_SECONDS", default=86_400)
INGEST_BATCH_MAX_ITEMS = env.int("INGEST_BATCH_MAX_ITEMS", default=1000)
INGEST_MAX_BODY_BYTES = env.int("INGEST_MAX_BODY_BYTES", default=1_048_576)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(INGEST_MAX_BODY_BYTES, 2_621_440)

# --- Channels (issue #5) -----------------------------------------------------------------
# One adapter per channel (channels/backends/); tests swap in the in-memory one.
CHANNEL_BACKENDS = {
    "email": env.str("EMAIL_CHANNEL_BACKEND", default="channels.backends.email.EmailBackend"),
    "sms": env.str("SMS_BACKEND", default="channels.backends.sms.HttpSmsBackend"),
    "push": env.str("PUSH_BACKEND", default="channels.backends.push.PushBackend"),
    "mail": env.str("MAIL_BACKEND", default="channels.backends.mail.MailFileBackend"),
    "webhook": env.str("WEBHOOK_BACKEND", default="channels.backends.webhook.WebhookBackend"),
}
# --- Feedback and suppression (issue #5) -------------------------------------------------
# Soft bounces on one address before it is quarantined (suppressed, cause soft_bounces).
SOFT_BOUNCE_QUARANTINE = env.int("SOFT_BOUNCE_QUARANTINE", default=3)
# Provider feedback webhooks are signed with this (HMAC-SHA256 of the raw body, hex, in the
# X-Itinera-Signature header); empty refuses every webhook.
FEEDBACK_WEBHOOK_SECRET = env.str("FEEDBACK_WEBHOOK_SECRET", default="")

# --- Channel providers (issue #5: SMS, push, direct mail, webhook) --------------------------
# Every outbound provider call goes through channels/net.py with this timeout (seconds).
PROVIDER_TIMEOUT_SECONDS = env.float("PROVIDER_TIMEOUT_SECONDS", default=10.0)
# SMS through a JSON HTTP provider (channels.backends.sms.HttpSmsBackend).
SMS_PROVIDER_URL = env.str("SMS_PROVIDER_URL", default="")
SMS_PROVIDER_TOKEN = env.str("SMS_PROVIDER_TOKEN", default="")
SMS_SENDER = env.str("SMS_SENDER", default="Itinera")
# Inbound SMS (STOP/START) from the JSON provider: HMAC-SHA256 key of its webhook signature.
SMS_INBOUND_SECRET = env.str("SMS_INBOUND_SECRET", default="")
# SMS through Twilio or a compatible API (channels.backends.sms.TwilioSmsBackend); the
# auth token also verifies Twilio's inbound webhook signature.
TWILIO_BASE_URL = env.str("TWILIO_BASE_URL", default="https://api.twilio.com")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM = env.str("TWILIO_FROM", default="")
# Web Push (VAPID): the private key (base64url raw or PEM) and the contact (mailto: or https:).
WEBPUSH_VAPID_PRIVATE_KEY = env.str("WEBPUSH_VAPID_PRIVATE_KEY", default="")
WEBPUSH_VAPID_SUBJECT = env.str("WEBPUSH_VAPID_SUBJECT", default="")
WEBPUSH_TTL_SECONDS = env.int("WEBPUSH_TTL_SECONDS", default=86_400)
# Web Push endpoints come from browsers (untrusted): non-public ones are refused unless listed.
WEBPUSH_ALLOWED_HOSTS = env.list("WEBPUSH_ALLOWED_HOSTS", default=[])
# FCM HTTP v1. The OAuth access token comes from the environment for now (a service-account
# token provider is still to come); the base URL is overridable for tests.
FCM_BASE_URL = env.str("FCM_BASE_URL", default="https://fcm.googleapis.com")
FCM_PROJECT_ID = env.str("FCM_PROJECT_ID", default="")
FCM_ACCESS_TOKEN = env.str("FCM_ACCESS_TOKEN", default="")
# Outgoing webhooks: the HMAC key of X-Itinera-Signature, and the hosts allowed even though
# they resolve to private/loopback addresses (tests, on-premise receivers).
WEBHOOK_SIGNING_SECRET = env.str("WEBHOOK_SIGNING_SECRET", default="")
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_MAX_REDIRECTS = env.int("WEBHOOK_MAX_REDIRECTS", default=3)
# Direct-mail files for the print house, under MEDIA_ROOT (downloaded through a view only).
MAIL_EXPORT_DIR = "mail-exports"
# --- Sending pipeline and delivery policy (issue #5) --------------------------------------
# A retryable provider failure is tried again after SEND_RETRY_BASE_SECONDS × 2^(attempt-1),
# up to SEND_MAX_ATTEMPTS attempts in all; then the delivery fails (provider_error).
SEND_MAX_ATTEMPTS = env.int("SEND_MAX_ATTEMPTS", default=5)
SEND_RETRY_BASE_SECONDS = env.int("SEND_RETRY_BASE_SECONDS", default=60)
# A running campaign pauses itself when, among its deliveries that reached the provider in
# the last SEND_PAUSE_WINDOW_SECONDS, at least SEND_PAUSE_MIN_ATTEMPTS were tried and this
# share of them failed with a provider error (campaigns/send_health.py); 0 turns it off.
SEND_PAUSE_ERROR_RATE = env.float("SEND_PAUSE_ERROR_RATE", default=0.2)
SEND_PAUSE_MIN_ATTEMPTS = env.int("SEND_PAUSE_MIN_ATTEMPTS", default=50)
SEND_PAUSE_WINDOW_SECONDS = env.int("SEND_PAUSE_WINDOW_SECONDS", default=900)
# Deliveries (and their status logs) older than this many days are deleted by a daily job,
# except those still queued, deferred or sending; 0 keeps them forever.
DELIVERY_RETENTION_DAYS = env.int("DELIVERY_RETENTION_DAYS", default=400)
# Per channel, at most N marketing messages sent over the last D days (counted in the
# profile's time zone): "email:3/7,sms:2/7"; an empty value turns caps off.
FREQUENCY_CAPS = {
    channel: (int(count), int(days))
    for channel, _, cap in (
        item.strip().partition(":")
        for item in env.str("FREQUENCY_CAPS", default="email:3/7").split(",") if item.strip()
    )
    for count, _, days in [cap.partition("/")]
}
# Local hours (the profile's time zone) when marketing SMS and push wait for the morning.
QUIET_HOURS = {
    "sms": (env.str("QUIET_HOURS_SMS_START", default="21:00"),
            env.str("QUIET_HOURS_SMS_END", default="08:00")),
    "push": (env.str("QUIET_HOURS_PUSH_START", default="22:00"),
             env.str("QUIET_HOURS_PUSH_END", default="08:00")),
}
# Wall-clock limit of one template render (checked inside the renderer; safe in threads).
TEMPLATE_RENDER_SECONDS = env.float("TEMPLATE_RENDER_SECONDS", default=2.0)
# Per channel, most messages per second handed to the provider across all workers:
# "sms:10,push:200"; empty = as fast as the workers go.
SEND_RATE_LIMITS = {
    channel.strip(): int(limit)
    for channel, _, limit in (
        item.partition(":") for item in env.str("SEND_RATE_LIMITS", default="").split(",")
        if item.strip()
    )
}
