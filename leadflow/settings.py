"""LeadFlow settings: environment variables only, with an embedded default.

With no variables set the project runs on a laptop with no servers: SQLite, and Celery over
kombu's filesystem transport (an embedded broker in ``var/celery``; ``var/celery-test`` under pytest), so `manage.py run` starts a
real worker and beat beside the web server. Production sets DATABASE_URL (PostgreSQL),
CELERY_BROKER_URL (Redis) and DJANGO_SECRET_KEY, with DJANGO_DEBUG=0.
"""

import sys
from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

django_stubs_ext.monkeypatch()  # lets ModelAdmin[Lead] & co. be subscripted at run time

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# The test suite keeps its own broker folder and mail folder under var/ (tests/conftest.py hands
# them to the processes tests start), so a demo in the same checkout never mixes with it.
UNDER_PYTEST = "pytest" in sys.modules

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env(
    "DJANGO_SECRET_KEY",
    default="dev-insecure-only-for-the-embedded-profile" if DEBUG else environ.Env.NOTSET,
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "leadflow.views.csrf_failure"  # a styled page with a way back (issue 17)
SITE_URL = env("LEADFLOW_SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",  # search lookups (trigram, full-text); inert on SQLite
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by us (no CDN)
    "django_htmx",
    "axes",  # login lockout, see "Login lockout" below
    "leadflow",
    "leads",
    "handover",
    "scoring",
    "predictive",
    "attribution",  # touches, channel grouping, attribution credits (attribution/)
    "reports",
    "privacy",
    "configure",
    "companies",  # B2B accounts, membership, buying groups (companies/)
    "capture",  # forms, consent texts, public submission endpoint (capture/)
    "bulk",  # bulk actions on the lead list and board (bulk/actions.py)
]

MIDDLEWARE = [
    "leadflow.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "leadflow.middleware.UserLocaleMiddleware",  # the profile's language and time zone
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the 429 page
]

ROOT_URLCONF = "leadflow.urls"
WSGI_APPLICATION = "leadflow.wsgi.application"

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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'leadflow.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # The web server, the worker and beat share one file: WAL lets readers run beside the one
    # writer, IMMEDIATE takes the write lock up front so a transaction never fails half-way.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # A file, not :memory:, so tests can start a real worker process on the test database.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(VAR_DIR / "test.sqlite3")
else:
    # Persistent connections: measured 3x more single-event requests/s than CONN_MAX_AGE=0.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env(
        "DATABASE_TEST_NAME", default="test_leadflow"
    )

# --- Read replica for reports (leadflow/replica.py; docs/operations.md "Reports on a read replica")
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    DATABASES["replica"]["CONN_MAX_AGE"] = DATABASES["default"].get("CONN_MAX_AGE", 0)
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    # tests: no database of its own; tests/conftest.py points it at the real standby's copy of
    # the test database
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["leadflow.replica.ReplicaRouter"]
LEADFLOW_REPLICA_MAX_LAG_SECONDS = env.float("LEADFLOW_REPLICA_MAX_LAG_SECONDS", default=30.0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "leadflow.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# --- Login lockout (django-axes; docs/operations.md "Login lockout") ---
# The lockout backend goes first: a locked-out user name or address is refused before any
# password is checked. It needs the request, which every HTTP login passes; the REST API
# authenticates by session or API key and never reaches these backends.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LEADFLOW_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LEADFLOW_LOGIN_COOLOFF_MINUTES", default=15.0))
# Counted separately, each locking at the limit: "username" (the account, from any address:
# stops slow guessing from many machines) and "ip_address" (the address, across user names:
# stops password spraying). "a+b" counts a pair together, e.g. "username+ip_address".
_LOCKOUT_BY = env.list("LEADFLOW_LOGIN_LOCKOUT_BY", default=["username", "ip_address"])
AXES_LOCKOUT_PARAMETERS = [p.split("+") if "+" in p else p for p in _LOCKOUT_BY]
if unknown := {n for p in _LOCKOUT_BY for n in p.split("+")} - {
    "username",
    "ip_address",
    "user_agent",
}:
    raise ImproperlyConfigured(
        f"LEADFLOW_LOGIN_LOCKOUT_BY: unknown {', '.join(sorted(unknown))}; "
        "use username, ip_address, user_agent, joined by commas or '+'."
    )
# A lockout ends a fixed cool-off after the failure that caused it, so Retry-After is true and
# attempts while locked (refused without a password check) do not prolong it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A successful login does not wipe earlier failures: axes would wipe the address's count too,
# so one valid account would reset a password-spraying address. Failures expire by cool-off.
AXES_RESET_ON_SUCCESS = False
AXES_DISABLE_ACCESS_LOG = True  # no row per successful login; lockouts and unlocks are audited
AXES_ENABLE_ADMIN = False  # leadflow/admin.py registers an admin whose unlocks are audited
AXES_CLIENT_IP_CALLABLE = "leadflow.client_ip.client_ip"
AXES_LOCKOUT_CALLABLE = "leadflow.lockout.lockout_response"  # 429, Retry-After, a page
# Reverse proxies in front of the app that append to X-Forwarded-For (leadflow/client_ip.py).
# 0: the header is ignored and the peer address is the client.
LEADFLOW_TRUSTED_PROXY_COUNT = env.int("LEADFLOW_TRUSTED_PROXY_COUNT", default=0)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# The interface's languages (docs/i18n.md): English is the source, the others are catalogs in
# locale/. A user's profile picks one; otherwise Accept-Language does, falling back to English.
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", "English"),
    ("hu", "Magyar"),
    ("da", "Dansk"),
    ("cs", "Čeština"),
    ("de", "Deutsch"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Our own formats per language (leadflow/formats/): English keeps day-month-year and a 24-hour
# clock instead of Django's US defaults; the others extend Django's own.
FORMAT_MODULE_PATH = ["leadflow.formats"]
TIME_ZONE = env("LEADFLOW_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# collectstatic's output; the production smoke (.ci/smoke) builds into a scratch folder
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
if DEBUG:  # collectstatic fills it; it exists so WhiteNoise has no missing folder to warn of
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# DEBUG: one line per e-mail on the console, the whole message in var/mail/ (leadflow/mail.py).
EMAIL_BACKEND = env(
    "DJANGO_EMAIL_BACKEND",
    default="leadflow.mail.SummaryEmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = env(
    "DJANGO_EMAIL_FILE_PATH", default=str(VAR_DIR / ("mail-test" if UNDER_PYTEST else "mail"))
)
EMAIL_HOST = env("DJANGO_EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("DJANGO_EMAIL_PORT", default=25)
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="leadflow@localhost")

# --- security: everything on unless DEBUG (manage.py check --deploy is clean in production) ---
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "leadflow.api.auth.ApiKeyAuthentication",  # first: anonymous requests get 401
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "leadflow.api.ordering.OrderingFilter",  # ?ordering= by declared fields, else 400
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "leadflow.api.renderers.BrowsableAPIRenderer",  # DRF's, within the CSP
    ],
    "DEFAULT_PAGINATION_CLASS": "leadflow.api.pagination.DefaultCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "leadflow.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "leadflow.api.schema.AutoSchema",  # documents the error answers
    "DEFAULT_THROTTLE_CLASSES": [
        "leadflow.api.throttling.ApiKeyRateThrottle",
        "leadflow.api.throttling.SessionUserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {"user": env("LEADFLOW_API_USER_RATE", default="6000/minute")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "LeadFlow API",
    "DESCRIPTION": "Leads, events, lifecycle and handover for integrations.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # request and response bodies are separate components (LeadRequest, Lead): read-only fields
    # stay out of request bodies, and a field may accept less than it returns (Lead.email)
    "COMPONENT_SPLIT_REQUEST": True,
    # the schema and /api/docs/ need a login unless published (leadflow/api/docs.py says why)
    "SERVE_PERMISSIONS": ["leadflow.api.docs.ApiDocsPermission"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # no call to the public swagger.io validator: the page talks to our origin only
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # one name per choice set shared by several serializers (else check --deploy warns)
    "ENUM_NAME_OVERRIDES": {
        "StageEnum": "leads.lifecycle.Stage",
        "ActivityKindEnum": "leads.models.ActivityKind",
        "ScoringRuleKindEnum": "scoring.models.ScoringRule.Kind",
        "ScoringRunKindEnum": "scoring.models.ScoringRun.Kind",
        "ScoringRuleDecayEnum": "scoring.models.ScoringRule.Decay",
        "ScoringModelDecayEnum": "scoring.models.ScoringModel.Decay",
        "ScoringModelStatusEnum": "scoring.models.ScoringModel.Status",
        "ScoringRunStatusEnum": "scoring.models.ScoringRun.Status",
        "ConsentChannelEnum": "privacy.models.Channel",
        "CompanySizeEnum": "leads.models.CompanySize",
        "MembershipSourceEnum": "companies.models.Membership.Source",
        # lead and account handovers share one status list
        "HandoverStatusEnum": "handover.models.Handover.Status",
    },
}

# --- Celery: Redis in production, kombu's filesystem transport as the embedded broker ---
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
# The embedded broker's folder. Tests (pytest) get their own, so a test's worker and a
# `scripts/run` demo worker in the same checkout never take each other's tasks; processes a
# test starts inherit it through the variable (tests/conftest.py sets it).
LEADFLOW_BROKER_FOLDER = Path(
    env(
        "LEADFLOW_BROKER_FOLDER",
        default=str(VAR_DIR / ("celery-test" if UNDER_PYTEST else "celery")),
    )
)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(LEADFLOW_BROKER_FOLDER / "queue"),
        "data_folder_out": str(LEADFLOW_BROKER_FOLDER / "queue"),
        "processed_folder": str(LEADFLOW_BROKER_FOLDER / "processed"),
        "control_folder": str(LEADFLOW_BROKER_FOLDER / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {"visibility_timeout": 3600}
)
if CELERY_BROKER_URL.startswith("filesystem"):
    for folder in ("queue", "processed", "control"):
        (LEADFLOW_BROKER_FOLDER / folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# The queue the web processes publish to and workers consume by default. Tests give each run its
# own, so runs sharing a broker (or a checkout's broker folder) never take each other's tasks.
CELERY_TASK_DEFAULT_QUEUE = env("LEADFLOW_CELERY_QUEUE", default="celery")
# Tasks that run for minutes: full rescores, bulk jobs, imports, model training and scoring,
# rollup rebuilds. With LEADFLOW_BULK_QUEUE set they go to that queue, served by a worker pool of
# its own (`scripts/serve-worker -Q <name>`), so a scoring sweep, an SLA scan or a delivery never
# waits behind them for a free slot (docs/operations.md, "Scaling out"). Unset: one queue.
LEADFLOW_BULK_TASKS = (
    "scoring.tasks.scoring_run_task",
    "bulk.tasks.bulk_run_task",
    "privacy.tasks.import_run_task",
    "predictive.tasks.predictive_train_task",
    "predictive.tasks.predictive_score_all_task",
    "reports.tasks.stage_days_rebuild_task",
    "reports.tasks.metric_days_compact_task",
)
LEADFLOW_BULK_QUEUE = env("LEADFLOW_BULK_QUEUE", default="")  # routed in leadflow/celery.py
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# Beat's schedule file sits beside the broker folder, named after it, so a test's beat and the
# demo's never share it either (var/celerybeat-schedule for var/celery, as it always was).
CELERY_BEAT_SCHEDULE_FILENAME = str(
    LEADFLOW_BROKER_FOLDER.parent
    / (
        "celerybeat-schedule"
        if LEADFLOW_BROKER_FOLDER.name == "celery"
        else f"{LEADFLOW_BROKER_FOLDER.name}-beat-schedule"
    )
)
# Periodic work. Apps add their own entries in their AppConfig.ready (see handover/scoring apps).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "leads-heartbeat": {
        "task": "leadflow.tasks.worker_heartbeat_task",
        "schedule": 15.0,
    },
    # Handover: SLA timers are rows scanned here (never countdown tasks); the sweeper re-drives
    # outbox rows whose task was lost (Redis restart, killed worker) or whose retry fell due.
    "handover-sla-scan": {
        "task": "handover.tasks.sla_scan_task",
        "schedule": env.float("LEADFLOW_SLA_SCAN_SECONDS", default=15.0),
    },
    "handover-outbox-sweep": {
        "task": "handover.tasks.outbox_sweep_task",
        "schedule": env.float("LEADFLOW_OUTBOX_SWEEP_SECONDS", default=30.0),
    },
    # rule precision's daily rollup: days whose handovers changed are rewritten (until then
    # the rules editor counts them from the handovers, so this only sets how fast it reads)
    "handover-rule-precision-refresh": {
        "task": "handover.tasks.rule_precision_refresh_task",
        "schedule": env.float("LEADFLOW_RULE_PRECISION_REFRESH_SECONDS", default=60.0),
    },
}

# --- background jobs (leadflow/jobs.py): imports, scoring runs, training, reports rebuild ---
# A running job whose last committed batch is older than this is shown (and kept) as failed.
# event times ingestion accepts (after the sender's clock is corrected); outside: item errors
# Free-mail and disposable domains beyond leadflow/maildomains.py's list (comma-separated): never
# an account's domain, never matched to an account, and what the fit rule "free mail" tests.
LEADFLOW_FREE_MAIL_DOMAINS_EXTRA = env.list("LEADFLOW_FREE_MAIL_DOMAINS_EXTRA", default=[])
LEADFLOW_EVENT_MAX_AGE_DAYS = env.int("LEADFLOW_EVENT_MAX_AGE_DAYS", default=3650)
LEADFLOW_EVENT_MAX_FUTURE_SECONDS = env.int("LEADFLOW_EVENT_MAX_FUTURE_SECONDS", default=300)
# what Segment ingestion keeps of context.ip on activities: "none", "truncated" (IPv4 last octet
# zeroed, IPv6 to its /48: the network, not the person) or "full"
LEADFLOW_INGEST_IP = env.str("LEADFLOW_INGEST_IP", default="truncated")
if LEADFLOW_INGEST_IP not in ("none", "truncated", "full"):
    raise ImproperlyConfigured(
        f"LEADFLOW_INGEST_IP: {LEADFLOW_INGEST_IP!r}; use none, truncated or full."
    )
JOBS_STALE_SECONDS = env.int("LEADFLOW_JOB_STALE_SECONDS", default=300)
# A batch that meets "database is locked" (SQLite) or a transient PostgreSQL error is retried
# this many times, waiting base * 2^n seconds (capped at max, with jitter); then the job fails.
JOBS_RETRY_ATTEMPTS = env.int("LEADFLOW_JOB_RETRY_ATTEMPTS", default=8)
JOBS_RETRY_BASE_SECONDS = env.float("LEADFLOW_JOB_RETRY_BASE_SECONDS", default=0.5)
JOBS_RETRY_MAX_SECONDS = env.float("LEADFLOW_JOB_RETRY_MAX_SECONDS", default=15.0)
CELERY_BEAT_SCHEDULE["jobs-fail-stale"] = {
    "task": "leadflow.tasks.jobs_fail_stale_task",
    "schedule": 60.0,
}

# --- dead letters (leadflow/deadletter.py): items a batch set aside so the rest went on ---
# Retried after base * 2^n seconds (n = failed retries, capped at max); after MAX_ATTEMPTS failed
# retries an item stays as "gave up" in the admin until someone retries or deletes it.
DEADLETTER_RETRY_BASE_SECONDS = env.float("LEADFLOW_DEADLETTER_RETRY_BASE_SECONDS", default=60.0)
DEADLETTER_RETRY_MAX_SECONDS = env.float(
    "LEADFLOW_DEADLETTER_RETRY_MAX_SECONDS", default=6 * 3600.0
)
DEADLETTER_MAX_ATTEMPTS = env.int("LEADFLOW_DEADLETTER_MAX_ATTEMPTS", default=8)
CELERY_BEAT_SCHEDULE["deadletters-retry"] = {
    "task": "leadflow.tasks.deadletters_retry_task",
    "schedule": env.float("LEADFLOW_DEADLETTER_SCAN_SECONDS", default=60.0),
}

# --- Handover: notifications outbox and webhooks ---
# A delivery attempt holds its row this long; a worker killed mid-attempt frees it after this.
# Rows are claimed one at a time right before they are sent, and a webhook row's lease is never
# shorter than the attempt deadline plus a margin (see docs/webhooks.md).
HANDOVER_OUTBOX_LEASE_SECONDS = env.int("LEADFLOW_OUTBOX_LEASE_SECONDS", default=120)
# A queued delivery not picked up within this is queued again by the sweeper (lost task).
HANDOVER_OUTBOX_REQUEUE_SECONDS = env.int("LEADFLOW_OUTBOX_REQUEUE_SECONDS", default=60)
# The hard deadline of one webhook attempt: DNS, connect, TLS, send and the whole response.
HANDOVER_WEBHOOK_TIMEOUT_SECONDS = env.float("LEADFLOW_WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Requests in flight to one subscription at once (its share of the worker slots).
HANDOVER_WEBHOOK_MAX_IN_FLIGHT = env.int("LEADFLOW_WEBHOOK_MAX_IN_FLIGHT", default=1)
# A subscription's delivery task hands its worker slot back after this long (and queues itself
# again behind other work) so one busy endpoint cannot keep a slot from the others' tasks.
HANDOVER_WEBHOOK_DRAIN_SECONDS = env.float("LEADFLOW_WEBHOOK_DRAIN_SECONDS", default=5.0)
# Webhooks to loopback/private/link-local addresses are refused unless this is set (SSRF).
HANDOVER_WEBHOOK_ALLOW_PRIVATE = env.bool("LEADFLOW_WEBHOOK_ALLOW_PRIVATE", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LEADFLOW_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # axes logs each failure and lockout at WARNING; its INFO lines are start-up noise
        "axes": {"level": "WARNING"},
    },
}

# --- predictive scoring (predictive/, docs/predictive.md) ---
PREDICTIVE_TARGET = env("LEADFLOW_PREDICTIVE_TARGET", default="customer")  # or "sql"
PREDICTIVE_MIN_SAMPLES = env.int("LEADFLOW_PREDICTIVE_MIN_SAMPLES", default=200)
PREDICTIVE_MIN_PER_CLASS = env.int("LEADFLOW_PREDICTIVE_MIN_PER_CLASS", default=20)
PREDICTIVE_CV_FOLDS = env.int("LEADFLOW_PREDICTIVE_CV_FOLDS", default=5)
PREDICTIVE_HALF_LIFE_DAYS = env.float("LEADFLOW_PREDICTIVE_HALF_LIFE_DAYS", default=30.0)
PREDICTIVE_AGED_OUT_DAYS = env.int("LEADFLOW_PREDICTIVE_AGED_OUT_DAYS", default=180)
PREDICTIVE_MAX_TRAINING_ROWS = env.int("LEADFLOW_PREDICTIVE_MAX_TRAINING_ROWS", default=100_000)
PREDICTIVE_BATCH_SIZE = env.int("LEADFLOW_PREDICTIVE_BATCH_SIZE", default=10_000)
PREDICTIVE_BOOST_ITERATIONS = env.int("LEADFLOW_PREDICTIVE_BOOST_ITERATIONS", default=300)
PREDICTIVE_KEEP_VERSIONS = env.int("LEADFLOW_PREDICTIVE_KEEP_VERSIONS", default=20)
PREDICTIVE_DIRTY_DELTA = env.float("LEADFLOW_PREDICTIVE_DIRTY_DELTA", default=0.02)
CELERY_BEAT_SCHEDULE["predictive-train-nightly"] = {
    "task": "predictive.tasks.predictive_train_task",
    "schedule": crontab(hour=2, minute=30),
}
CELERY_BEAT_SCHEDULE["predictive-score-changed"] = {
    "task": "predictive.tasks.predictive_score_changed_task",
    "schedule": 300.0,
}

# --- rule-based scoring (scoring/, docs/scoring.md) ---
SCORING_BATCH_SIZE = env.int("LEADFLOW_SCORING_BATCH_SIZE", default=10_000)
CELERY_BEAT_SCHEDULE["scoring-dirty-sweep"] = {
    "task": "scoring.tasks.score_dirty_sweep_task",
    "schedule": env.float("LEADFLOW_SCORING_SWEEP_SECONDS", default=5.0),
}
# accounts whose inputs changed (members, roles, fit fields, members' lead scores)
CELERY_BEAT_SCHEDULE["scoring-account-sweep"] = {
    "task": "scoring.tasks.account_scores_sweep_task",
    "schedule": env.float("LEADFLOW_ACCOUNT_SWEEP_SECONDS", default=30.0),
}
CELERY_BEAT_SCHEDULE["scoring-decay-rescore"] = {
    "task": "scoring.tasks.decay_rescore_task",
    "schedule": crontab(hour=3, minute=15),
}
CELERY_BEAT_SCHEDULE["scoring-runs-redrive"] = {
    "task": "scoring.tasks.runs_redrive_task",
    "schedule": 120.0,
}

# --- browser UI (issue 6): Content-Security-Policy on every response (django-csp) ---
# Only our own origin: no inline scripts or styles, no eval (htmx runs with allowEval off);
# the vendored htmx/SortableJS and static/js/leadflow.js are plain files served by whitenoise.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "csp.middleware.CSPMiddleware",
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- reports (reports/, docs/reports.md): per-day stage counts behind the point-in-time report ---
CELERY_BEAT_SCHEDULE["reports-stage-days-nightly"] = {
    "task": "reports.tasks.stage_days_rebuild_task",
    "schedule": crontab(hour=1, minute=15),
}
# Stage changes insert MetricDay deltas; this folds them to one row per cell.
CELERY_BEAT_SCHEDULE["reports-metric-days-compact"] = {
    "task": "reports.tasks.metric_days_compact_task",
    "schedule": env.float("LEADFLOW_METRIC_DAYS_COMPACT_SECONDS", default=60.0),
}

# --- attribution (attribution/, docs/reports.md#attribution): marked leads' touches and credits
# are refreshed this often; the time-decay model halves a touch's weight every this many days
# before the outcome (change it, then run `manage.py attribution_rebuild`).
CELERY_BEAT_SCHEDULE["attribution-refresh"] = {
    "task": "attribution.tasks.refresh_marked_task",
    "schedule": env.float("LEADFLOW_ATTRIBUTION_REFRESH_SECONDS", default=30.0),
}
# The currency reports total money in (ISO 4217). A deal in another currency is converted at the
# rate Settings › Exchange rates holds for it (leads/money.py).
LEADFLOW_CURRENCY = env.str("LEADFLOW_CURRENCY", default="EUR").strip().upper()
LEADFLOW_ATTRIBUTION_HALF_LIFE_DAYS = env.float("LEADFLOW_ATTRIBUTION_HALF_LIFE_DAYS", default=7.0)
if LEADFLOW_ATTRIBUTION_HALF_LIFE_DAYS <= 0:
    raise ImproperlyConfigured("LEADFLOW_ATTRIBUTION_HALF_LIFE_DAYS must be more than 0.")

# --- Integration API (docs/api.md): per-key rate limit, idempotency ---
LEADFLOW_API_KEY_RATE_LIMIT = env.int("LEADFLOW_API_KEY_RATE_LIMIT", default=6000)  # per window
LEADFLOW_API_KEY_RATE_WINDOW = env.int("LEADFLOW_API_KEY_RATE_WINDOW", default=60)  # seconds
# A public (browser) key's requests per window from one client IP, before the key's own limit.
LEADFLOW_PUBLIC_KEY_IP_RATE_LIMIT = env.int("LEADFLOW_PUBLIC_KEY_IP_RATE_LIMIT", default=300)
# Each web process reuses a checked key + its permissions this long (revocation delay elsewhere).
LEADFLOW_API_KEY_CACHE_SECONDS = env.float("LEADFLOW_API_KEY_CACHE_SECONDS", default=5.0)
# Atomic counters in Redis when there is one; the embedded profile counts in Django's cache.
LEADFLOW_RATE_LIMIT_REDIS_URL = env(
    "LEADFLOW_RATE_LIMIT_REDIS_URL",
    default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
)
# Prefix of the rate-limit counters' Redis keys: installs (or test runs) sharing a Redis keep apart.
LEADFLOW_RATE_LIMIT_PREFIX = env("LEADFLOW_RATE_LIMIT_PREFIX", default="lf:rl")
# Lead capture (docs/capture.md): submissions per client IP, and per form, per window (seconds).
LEADFLOW_CAPTURE_IP_RATE_LIMIT = env.int("LEADFLOW_CAPTURE_IP_RATE_LIMIT", default=20)
LEADFLOW_CAPTURE_IP_RATE_WINDOW = env.int("LEADFLOW_CAPTURE_IP_RATE_WINDOW", default=600)
LEADFLOW_CAPTURE_FORM_RATE_LIMIT = env.int("LEADFLOW_CAPTURE_FORM_RATE_LIMIT", default=600)
LEADFLOW_CAPTURE_FORM_RATE_WINDOW = env.int("LEADFLOW_CAPTURE_FORM_RATE_WINDOW", default=60)
# The embeds' view/start reports (/f/<id>/event) per client IP per window (seconds).
LEADFLOW_CAPTURE_EVENT_RATE_LIMIT = env.int("LEADFLOW_CAPTURE_EVENT_RATE_LIMIT", default=120)
LEADFLOW_CAPTURE_EVENT_RATE_WINDOW = env.int("LEADFLOW_CAPTURE_EVENT_RATE_WINDOW", default=60)
# Proof of work of the embeds' challenge: leading zero bits (about 2**bits hashes per submission).
LEADFLOW_CAPTURE_POW_BITS = env.int("LEADFLOW_CAPTURE_POW_BITS", default=12)
# each web process keeps a live form (fields, consent texts) this long: a change reaches visitors
# within it, and a submission costs no form query
LEADFLOW_CAPTURE_FORM_CACHE_SECONDS = env.float("LEADFLOW_CAPTURE_FORM_CACHE_SECONDS", default=5.0)
# rejected submissions (the spam review) are deleted after this many days
LEADFLOW_CAPTURE_REJECTION_DAYS = env.int("LEADFLOW_CAPTURE_REJECTION_DAYS", default=30)
# a received submission becomes a lead in a worker; this re-drives any whose task was lost
CELERY_BEAT_SCHEDULE["capture-submissions-sweep"] = {
    "task": "capture.tasks.submissions_sweep_task",
    "schedule": 30.0,
}
# The demo landing page /demo/landing/ (a sample customer site with the demo form and the SDK):
# on in development, 404 in production unless asked for.
LEADFLOW_DEMO_LANDING = env.bool("LEADFLOW_DEMO_LANDING", default=DEBUG)
# Publish /api/schema/ and /api/docs/ to anonymous visitors (default: logged-in users only).
LEADFLOW_API_DOCS_PUBLIC = env.bool("LEADFLOW_API_DOCS_PUBLIC", default=False)
LEADFLOW_IDEMPOTENCY_TTL_HOURS = env.int("LEADFLOW_IDEMPOTENCY_TTL_HOURS", default=24)
CELERY_BEAT_SCHEDULE["api-idempotency-purge"] = {
    "task": "leadflow.tasks.idempotency_purge_task",
    "schedule": 3600.0,
}

# --- privacy: imports, consent, GDPR (privacy/, docs/privacy.md) ---
MEDIA_ROOT = env("LEADFLOW_MEDIA_ROOT", default=str(VAR_DIR / "media"))  # uploaded import files
PRIVACY_IMPORT_MAX_BYTES = env.int("LEADFLOW_IMPORT_MAX_BYTES", default=200 * 1024 * 1024)
PRIVACY_IMPORT_BATCH_SIZE = env.int("LEADFLOW_IMPORT_BATCH_SIZE", default=1000)
# Raw activities older than this many days are purged nightly (0 = keep forever).
PRIVACY_ACTIVITY_RETENTION_DAYS = env.int("LEADFLOW_ACTIVITY_RETENTION_DAYS", default=0)
# Keys the blocklist's hashes; changing it makes earlier entries unmatchable (keep it stable).
PRIVACY_HASH_KEY = env("LEADFLOW_PRIVACY_HASH_KEY", default=SECRET_KEY)
CELERY_BEAT_SCHEDULE["privacy-retention-nightly"] = {
    "task": "privacy.tasks.retention_purge_task",
    "schedule": crontab(hour=2, minute=45),  # before the nightly decay rescore at 03:15
}
