"""Scoring models (versioned rule sets), their rules, per-lead evaluations and recompute runs.

Layer: ``scoring → leads → leadflow`` (handover sits above and reads ``scoring.selectors``).
A model is a draft while it is edited; publishing freezes it and makes it the one that scores
leads; the previous published version is archived, never deleted (old versions explain old
scores). Rules are data validated by ``scoring.rules`` at save (see ``scoring.services``).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from leadflow.jobs import Job
from leads.models import ActivityKind, Lead


class ScoringModel(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    class Decay(models.TextChoices):
        NONE = "none", "No decay"
        HALF_LIFE = "half_life", "Half-life"
        STEP = "step", "Steps"

    name = models.CharField(max_length=120)
    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    description = models.TextField(blank=True)
    # thresholds: Suspect -> Lead on fit; Lead/Nurture -> MQL on the total with a minimum grade
    lead_fit_threshold = models.IntegerField(default=10)
    mql_threshold = models.IntegerField(default=50)
    mql_min_grade = models.CharField(max_length=1, default="C")
    # optional predictive gate: MQL also needs this learned conversion probability (0-1)
    mql_min_probability = models.FloatField(null=True, blank=True)
    # an MQL whose total falls below this is recycled to Nurture (None: never automatically)
    recycle_below = models.IntegerField(null=True, blank=True)
    grade_a_min = models.IntegerField(default=30)
    grade_b_min = models.IntegerField(default=15)
    grade_c_min = models.IntegerField(default=5)
    # the model's decay, used by rules whose decay is "model"
    decay = models.CharField(max_length=10, choices=Decay.choices, default=Decay.NONE)
    half_life_days = models.FloatField(null=True, blank=True)
    decay_steps = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="published"),
                name="scoringmodel_one_published",
            ),
            models.CheckConstraint(
                condition=Q(mql_min_grade__in=["A", "B", "C", "D"]),
                name="scoringmodel_min_grade_valid",
            ),
        ]
        permissions = [("publish_scoringmodel", "Can publish a scoring model")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.status})"


class ScoringRule(models.Model):
    class Kind(models.TextChoices):
        ACTIVITY = "activity", "Activity (engagement)"
        INACTIVITY = "inactivity", "Inactivity (engagement)"
        FIT = "fit", "Lead field (fit)"

    class Decay(models.TextChoices):
        MODEL = "model", "As the model"
        NONE = "none", "No decay"
        HALF_LIFE = "half_life", "Half-life"
        STEP = "step", "Steps"

    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="rules")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    points = models.IntegerField()
    # activity rules
    activity_kind = models.CharField(max_length=30, choices=ActivityKind.choices, blank=True)
    conditions = models.JSONField(default=list, blank=True)  # [{"property","op","value"}]
    repeatable = models.BooleanField(default=True)
    max_count = models.PositiveIntegerField(null=True, blank=True)
    max_points = models.PositiveIntegerField(null=True, blank=True)
    window_days = models.FloatField(null=True, blank=True)
    window_max = models.PositiveIntegerField(null=True, blank=True)
    decay = models.CharField(max_length=10, choices=Decay.choices, default=Decay.MODEL)
    half_life_days = models.FloatField(null=True, blank=True)
    decay_steps = models.JSONField(default=list, blank=True)
    # inactivity rules
    inactive_days = models.FloatField(null=True, blank=True)
    # fit rules
    field = models.CharField(max_length=50, blank=True)  # a lead field, "tags" or "custom.<key>"
    op = models.CharField(max_length=20, blank=True)
    value = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["model", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.points:+d})"


class LeadScore(models.Model):
    """The last evaluation of a lead: the per-rule breakdown the stored score was summed from.

    ``breakdown`` is ``[[rule_id, count, points, undecayed_points], ...]`` by rule id, written by
    the same statement that writes the totals onto the lead. ``mql_armed`` re-arms the MQL
    threshold: set when the total is below it, cleared when the lead crosses into MQL.
    """

    lead = models.OneToOneField(Lead, primary_key=True, on_delete=models.CASCADE, related_name="+")
    # not indexed: a handful of versions over 1M rows is no index to read by, only one more to
    # write on every score, and with stale statistics the planner chose it over a batch's ids
    model = models.ForeignKey(
        ScoringModel, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    score = models.IntegerField(default=0)
    fit_score = models.IntegerField(default=0)
    engagement_score = models.IntegerField(default=0)
    grade = models.CharField(max_length=1, blank=True)
    breakdown = models.JSONField(default=list)
    scored_at = models.DateTimeField()
    mql_armed = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"lead {self.lead_id}: {self.score}"


class ScoringRun(Job):
    """A background pass over all leads: a rescore (publish, decay) or a dry run of a draft.
    Batches are lead-id ranges; ``last_lead_id`` commits with ``done`` (the resume point)."""

    WAITING = "queued"
    UNIT = "leads"
    AUDIT = "scoring_run"

    class Kind(models.TextChoices):
        RESCORE = "rescore", "Rescore"
        DRY_RUN = "dry_run", "Dry run"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    reason = models.CharField(max_length=100, blank=True)
    last_lead_id = models.BigIntegerField(default=0)  # resume point: batches are id ranges
    written = models.PositiveIntegerField(default=0)
    moved = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} of v{self.model_id} ({self.status}, {self.done}/{self.total})"

    @property
    def resumable(self) -> bool:
        # a dry run's result is a snapshot of today: continuing one later would mix two days
        return self.kind == self.Kind.RESCORE


class SweepRequest(models.Model):
    """One row: "a dirty-lead sweep is queued". Ingestion queues a sweep only when it flips this
    from false to true; the sweep flips it back *before* it looks for dirty leads, so whatever
    commits after that queues the next one (bursts coalesce; no trailing activity is missed)."""

    requested = models.BooleanField(default=False)
    requested_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"sweep requested: {self.requested}"
