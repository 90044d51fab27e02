"""Versioned conversion models. The fitted artefact lives in the row, so a version is complete
the moment its row commits, and activating a version is one transaction."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from leadflow.jobs import Job


class Target(models.TextChoices):
    CUSTOMER = "customer", _("Becomes a customer")
    SQL = "sql", _("Reaches SQL")


class PredictiveModel(models.Model):
    """One trained version. Rows are never updated after training except ``is_active``,
    ``decile_edges`` and ``scored_at`` (set by the scoring pass)."""

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    target = models.CharField(_("target"), max_length=20, choices=Target.choices)
    # "logistic_regression" | "hist_gradient_boosting"
    algorithm = models.CharField(_("algorithm"), max_length=40)
    # cross-validated ROC AUC of every candidate, Brier score, class counts, timings ...
    metrics = models.JSONField(_("metrics"), default=dict)
    # the feature names in model order, and the reference (baseline) values used for factors
    features = models.JSONField(_("features"), default=list)
    # target definition, half-life, aged-out days ...
    params = models.JSONField(_("params"), default=dict)
    n_samples = models.PositiveIntegerField(_("n samples"))
    n_positive = models.PositiveIntegerField(_("n positive"))
    sklearn_version = models.CharField(_("sklearn version"), max_length=20)
    artefact = models.BinaryField()  # pickled calibrated pipeline (written by us only)
    artefact_sha256 = models.CharField(_("artefact sha256"), max_length=64)
    is_active = models.BooleanField(_("is active"), default=False)
    # probability cut points of the scored population (9 values: deciles 1..10)
    decile_edges = models.JSONField(_("decile edges"), default=list, blank=True)
    scored_at = models.DateTimeField(_("scored at"), null=True, blank=True)
    # leads whose activities were received or whose row changed after this were rescored
    incremental_watermark = models.DateTimeField(_("incremental watermark"), null=True, blank=True)

    class Meta:
        verbose_name = _("predictive model")
        verbose_name_plural = _("predictive models")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="predictive_one_active"
            )
        ]
        permissions = [("train_predictivemodel", "Can train predictive models")]

    def __str__(self) -> str:
        return f"v{self.pk} {self.algorithm} ({self.target})"

    @property
    def version(self) -> int:
        return int(self.pk)


class TrainingRun(Job):
    """One training (on demand or nightly) and the full scoring pass after it. A fit cannot
    be continued, so a failed or cancelled training is run again from the start."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    class Phase(models.TextChoices):
        WAITING = "", _("Not started")
        TRAINING = "training", _("Training")
        SCORING = "scoring", _("Scoring every lead")

    WAITING = "queued"
    UNIT = _("leads scored")
    RESUMABLE = False
    AUDIT = "predictive_training"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=10, choices=Phase.choices, blank=True)
    target = models.CharField(max_length=20, choices=Target.choices)
    model = models.ForeignKey(
        PredictiveModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"training #{self.pk} ({self.status}, {self.phase or '-'})"
