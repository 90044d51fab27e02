"""Versioned conversion models. The fitted artefact lives in the row, so a version is complete
the moment its row commits, and activating a version is one transaction."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from leadflow.jobs import Job


class Target(models.TextChoices):
    CUSTOMER = "customer", "Becomes a customer"
    SQL = "sql", "Reaches SQL"


class PredictiveModel(models.Model):
    """One trained version. Rows are never updated after training except ``is_active``,
    ``decile_edges`` and ``scored_at`` (set by the scoring pass)."""

    created_at = models.DateTimeField(auto_now_add=True)
    target = models.CharField(max_length=20, choices=Target.choices)
    algorithm = models.CharField(max_length=40)  # "logistic_regression" | "hist_gradient_boosting"
    # cross-validated ROC AUC of every candidate, Brier score, class counts, timings ...
    metrics = models.JSONField(default=dict)
    # the feature names in model order, and the reference (baseline) values used for factors
    features = models.JSONField(default=list)
    params = models.JSONField(default=dict)  # target definition, half-life, aged-out days ...
    n_samples = models.PositiveIntegerField()
    n_positive = models.PositiveIntegerField()
    sklearn_version = models.CharField(max_length=20)
    artefact = models.BinaryField()  # pickled calibrated pipeline (written by us only)
    artefact_sha256 = models.CharField(max_length=64)
    is_active = models.BooleanField(default=False)
    # probability cut points of the scored population (9 values: deciles 1..10)
    decile_edges = models.JSONField(default=list, blank=True)
    scored_at = models.DateTimeField(null=True, blank=True)
    # leads whose activities were received or whose row changed after this were rescored
    incremental_watermark = models.DateTimeField(null=True, blank=True)

    class Meta:
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
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Phase(models.TextChoices):
        WAITING = "", "Not started"
        TRAINING = "training", "Training"
        SCORING = "scoring", "Scoring every lead"

    WAITING = "queued"
    UNIT = "leads scored"
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
