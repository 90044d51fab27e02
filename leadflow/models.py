from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.fields.json import KeyTransform
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class User(AbstractUser):
    """Our own user model from day one, so adding fields later needs no swap migration."""

    # Blank: not chosen yet (the first signed-in visit stores the browser's language); the rule
    # for what a person reads is leadflow.i18n
    language = models.CharField(_("language"), max_length=10, blank=True, default="")
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("Blank: the site's time zone."),
    )

    class Meta(AbstractUser.Meta):  # type: ignore[name-defined]  # (not in the stubs)
        permissions = [
            ("manage_users", "Can create users and teams, change roles and deactivate users")
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class WorkerHeartbeat(models.Model):
    """Last time each background process kind proved it was alive (shown by /healthz)."""

    name = models.CharField(max_length=50, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class AuditEvent(models.Model):
    """Append-only record of a sensitive action: who did what to which object, when, from where.

    Written through ``leadflow.audit.audit_record`` in the same transaction as the action, so an
    action that rolls back leaves no audit row and one that commits always has one.
    """

    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)  # survives user deletion
    action = models.CharField(max_length=60, db_index=True)  # e.g. "lead.export", "apikey.create"
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            # the audit log page: newest first, keyset-paged on (at, id), walked backwards
            models.Index(fields=["at", "id"], name="audit_at_id_idx"),
            # the person of an export or erasure (the e-mail's keyed hash, privacy.gdpr): the
            # audit log filtered by an e-mail finds an erased person's entries without a scan
            models.Index(KeyTransform("subject_hash", "details"), name="audit_subject_idx"),
        ]
        permissions = [("view_audit_log", "Can read the audit log")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label or '-'} {self.action}"


class ApiKey(models.Model):
    """A key an integration authenticates with. Only a SHA-256 of the secret is stored.

    The key acts as ``user`` (an integration account): that user's role bounds what it may see and
    do, and ``scopes`` narrow it further per endpoint. ``prefix`` (shown in lists and logs) finds
    the row; the secret is compared by hash. Revoked keys stay for the audit trail.

    A *public* key is meant to be seen (a website's analytics write key): it only sends events
    and changes what a lead already holds only with an identity signature made with
    ``identity_secret`` (``leads.writepolicy``). That secret is kept in clear, as webhook
    secrets are: the server must compute the same HMAC to check one.
    """

    class Kind(models.TextChoices):
        SECRET = "secret", _("Secret (server)")
        PUBLIC = "public", _("Public (browser)")

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SECRET)
    identity_secret = models.CharField(max_length=100, blank=True)  # public keys only
    # public keys: the web origins (scheme://host[:port], one per line) whose pages may send
    # with it; CORS answers and the Origin check of /v1/* (leads.api.browser) read it
    allowed_origins = models.TextField(
        _("allowed origins"),
        blank=True,
        help_text=_(
            "Public keys: one origin per line, e.g. https://www.example.com. Browsers on "
            "other sites are refused (403 origin_not_allowed)."
        ),
    )
    # public keys: a page, track or identify is accepted only with the visitor's consent in
    # its context (capture.sdk_consent)
    tracking_consent_required = models.BooleanField(
        _("tracking needs consent"),
        default=False,
        help_text=_(
            "Public keys: accept a browser's page, track and identify only when the message "
            "carries the visitor's consent (the SDK's consent context)."
        ),
    )
    prefix = models.CharField(max_length=16, unique=True)
    hashed_key = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_keys")
    # requests per LEADFLOW_API_KEY_RATE_WINDOW seconds; null = LEADFLOW_API_KEY_RATE_LIMIT
    rate_limit = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        permissions = [("manage_api_keys", "Can create and revoke API keys (Settings)")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The stored first response to a POST carrying ``Idempotency-Key`` (Stripe semantics).

    ``owner`` scopes keys per API key (``key:<id>``) or per session user (``user:<id>``). A row
    is claimed (``status_code`` null) before the view runs and completed with the response
    bytes after; the unique constraint makes concurrent duplicates see the claim.
    """

    owner = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="idempotency_owner_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"


class DeadLetter(models.Model):
    """An item a batch could not process, set aside so the rest of its batch went on.

    Written by ``leadflow.deadletter`` in the batch's own transaction (the item's marks or lease
    are gone with it, so no batch takes it again); retried with backoff by a beat task and from
    the admin. A successful retry deletes the row; after the last automatic retry it stays as
    *gave up* until someone retries or deletes it.
    """

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting to retry")
        GAVE_UP = "gave_up", _("Gave up (retry by hand)")

    kind = models.CharField(max_length=40)  # a registered kind, e.g. "scoring.sweep"
    item_id = models.BigIntegerField()  # the lead, delivery, … of that kind
    error = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.WAITING)
    attempts = models.PositiveIntegerField(default=0)  # retries that failed
    first_failed_at = models.DateTimeField()
    failed_at = models.DateTimeField()  # the last failure
    next_retry_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "item_id"], name="deadletter_kind_item_unique")
        ]
        indexes = [models.Index(fields=["status", "next_retry_at"], name="deadletter_due_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.item_id}"
