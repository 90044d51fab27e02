"""Reports: the per-lead milestone rollup that makes every report one scan of a narrow table.

Sits at the top of the layering: ``reports → handover → scoring → leads → leadflow``.
Rows are written only by ``reports.services`` (in the transaction that appends the StageChange,
through the ``stage_changed`` signal, or by the bulk rebuild after COPY loads).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from leadflow.jobs import Job
from leads.models import Lead


class LeadMilestone(models.Model):
    """One lead's milestones, folded from its StageChange log by ``reports.milestones.fold``.

    ``*_at`` funnel columns use "reached at least" semantics: the first time the lead entered
    that stage or any later funnel stage (a skipped stage counts as reached when it was skipped).
    """

    lead = models.OneToOneField(
        Lead, primary_key=True, on_delete=models.CASCADE, related_name="milestone"
    )
    suspect_at = models.DateTimeField(null=True)  # = entered the funnel (its first log entry)
    lead_at = models.DateTimeField(null=True)
    mql_at = models.DateTimeField(null=True)
    sal_at = models.DateTimeField(null=True)
    sql_at = models.DateTimeField(null=True)
    customer_at = models.DateTimeField(null=True)
    # summed completed stays per stage, seconds (the ongoing stay is not counted)
    secs_suspect = models.FloatField(null=True)
    secs_lead = models.FloatField(null=True)
    secs_mql = models.FloatField(null=True)
    secs_sal = models.FloatField(null=True)
    secs_sql = models.FloatField(null=True)
    secs_nurture = models.FloatField(null=True)
    stage = models.CharField(max_length=20)  # the last logged stage
    stage_since = models.DateTimeField(null=True)
    recycles = models.PositiveIntegerField(default=0)
    first_recycled_at = models.DateTimeField(null=True)
    requalified_at = models.DateTimeField(null=True)
    sql_after_recycle_at = models.DateTimeField(null=True)
    disqualified_at = models.DateTimeField(null=True)
    skips = models.PositiveIntegerField(default=0)
    # the lead's current filter/grouping fields, copied so reports never join 1M+ leads; kept
    # in step by the stage_changed receiver and by a post_save receiver on Lead
    source = models.CharField(max_length=100, blank=True)
    utm_source = models.CharField(max_length=200, blank=True)
    utm_medium = models.CharField(max_length=200, blank=True)
    utm_campaign = models.CharField(max_length=200, blank=True)
    industry = models.CharField(max_length=100, blank=True)
    owner_id = models.BigIntegerField(null=True)
    team_id = models.BigIntegerField(null=True)
    deal_value = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    currency = models.CharField(max_length=3, blank=True, default="", db_default="")
    # "as it was then": the source, owner and team recorded on the lead's latest stage change
    # (who had it when it last moved). Reassigning or editing a lead changes the fields above,
    # not these. MetricDay cells are keyed by ``then_source``.
    then_source = models.CharField(max_length=100, blank=True)
    then_owner_id = models.BigIntegerField(null=True)
    then_team_id = models.BigIntegerField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["suspect_at"], name="milestone_entered_idx"),
            models.Index(fields=["mql_at"], name="milestone_mql_idx"),
            models.Index(fields=["customer_at"], name="milestone_won_idx"),
            models.Index(
                fields=["first_recycled_at"],
                condition=models.Q(first_recycled_at__isnull=False),
                name="milestone_recycled_idx",
            ),
        ]
        permissions = [
            ("view_reports", "Can see the manager reports"),
            (
                "view_marketing_reports",
                "Can see the marketing reports (sources, campaigns, feedback)",
            ),
        ]

    def __str__(self) -> str:
        return f"milestones of lead {self.lead_id}"


STAGE_DAYS = "stage_days"  # the RollupState row of StageDay


class StageDay(models.Model):
    """Log entries into and exits from each stage per day (site time zone), for point-in-time.

    Rebuilt from the log by ``reports.services.stage_days_rebuild`` (nightly and after bulk
    loads); changes with ids above ``RollupState.last_change_id`` are read from the log itself.
    """

    day = models.DateField()
    stage = models.CharField(max_length=20)
    entries = models.PositiveIntegerField(default=0)
    exits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "stage"], name="stageday_day_stage_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.stage}: +{self.entries} -{self.exits}"


class RollupState(models.Model):
    """How far a rebuilt rollup has read the stage log (the highest StageChange id covered)."""

    name = models.CharField(max_length=50, primary_key=True)
    last_change_id = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"{self.name} up to change {self.last_change_id}"


class MetricDay(models.Model):
    """Additive per-(metric, day, source, whole days) counts over the milestone rollup.

    ``day`` is the site-time-zone date of the metric's period field (e.g. the MQL time for the
    cohort's metrics) — or its month's first day in the monthly grain, which holds the same leads
    again so that long periods sum few rows —, ``days`` the lead's value floored to whole days
    (0 for plain counts);
    ``leads`` counts the leads in the cell and ``seconds`` sums their exact values. Any day
    range and source is a sum of cells, and a percentile reads the summed day histogram
    (``reports.histograms``). Kept in step by ``reports.services`` in the transaction that
    rewrites a lead's ``LeadMilestone`` row (as inserted deltas, a cell may have several rows
    until ``metric_days_compact`` folds them); ``metric_days_rebuild`` recomputes it.
    """

    grain = models.CharField(max_length=1, default="d")  # d: a day, m: a month (day = its 1st)
    metric = models.CharField(max_length=20)
    day = models.DateField()
    source = models.CharField(max_length=100, blank=True)
    days = models.IntegerField(default=0)
    leads = models.IntegerField(default=0)
    seconds = models.FloatField(default=0.0)

    class Meta:
        # Not unique: a stage change only *inserts* its delta rows (an upsert made concurrent
        # moves on the same day and source queue behind each other's commits), readers sum a
        # cell's rows, and ``metric_days_compact`` folds them back to one row per cell.
        indexes = [
            models.Index(
                fields=["grain", "metric", "day", "source", "days"], name="metricday_cell_idx"
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.grain} {self.metric} {self.day} {self.source or '-'} {self.days}d: {self.leads}"
        )


class RebuildRun(Job):
    """One rebuild of the rollups from the stage log (``manage.py reports_rebuild``).

    Progress is the lead-id span covered (``last_lead_id`` commits with each range), so a
    failed or cancelled rebuild resumes at the next range; the per-day tables are recomputed
    whole in the last step."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    WAITING = "queued"
    UNIT = _("lead ids")
    AUDIT = "reports_rebuild"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    batch = models.PositiveIntegerField(default=50_000)  # lead ids per transaction
    first_lead_id = models.BigIntegerField(default=0)
    last_lead_id = models.BigIntegerField(default=0)  # ranges below this are rebuilt
    rows = models.PositiveIntegerField(default=0)  # rollup rows written
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"reports rebuild #{self.pk} ({self.status}, {self.done}/{self.total})"
