"""Scoring models (versioned rule sets), their rules, per-lead evaluations and recompute runs.

Layer: ``scoring → leads → leadflow`` (handover sits above and reads ``scoring.selectors``).
A model is a draft while it is edited; publishing freezes it and makes it the one that scores
leads; the previous published version is archived, never deleted (old versions explain old
scores). Rules are data validated by ``scoring.rules`` at save (see ``scoring.services``).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from leadflow.jobs import Job
from leads.models import ActivityKind, Lead


class ScoringModel(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        ARCHIVED = "archived", _("Archived")

    class Decay(models.TextChoices):
        NONE = "none", _("No decay")
        HALF_LIFE = "half_life", _("Half-life")
        STEP = "step", _("Steps")

    name = models.CharField(_("name"), max_length=120)
    version = models.PositiveIntegerField(_("version"), unique=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    description = models.TextField(_("description"), blank=True)
    # thresholds: Suspect -> Lead on fit; Lead/Nurture -> MQL on the total with a minimum grade
    lead_fit_threshold = models.IntegerField(_("lead fit threshold"), default=10)
    mql_threshold = models.IntegerField(_("mql threshold"), default=50)
    mql_min_grade = models.CharField(_("mql min grade"), max_length=1, default="C")
    # optional predictive gate: MQL also needs this learned conversion probability (0-1)
    mql_min_probability = models.FloatField(_("mql min probability"), null=True, blank=True)
    # an MQL whose total falls below this is recycled to Nurture (None: never automatically)
    recycle_below = models.IntegerField(_("recycle below"), null=True, blank=True)
    grade_a_min = models.IntegerField(_("grade a min"), default=30)
    grade_b_min = models.IntegerField(_("grade b min"), default=15)
    grade_c_min = models.IntegerField(_("grade c min"), default=5)
    # the model's decay, used by rules whose decay is "model"
    decay = models.CharField(_("decay"), max_length=10, choices=Decay.choices, default=Decay.NONE)
    half_life_days = models.FloatField(_("half life days"), null=True, blank=True)
    decay_steps = models.JSONField(_("decay steps"), default=list, blank=True)
    # accounts (scoring.account_rules): a member is engaged at this lead engagement score or more
    account_engaged_min = models.IntegerField(_("account engaged member minimum"), default=10)
    # the sum of the members' engagement scores counts up to this
    account_engagement_cap = models.IntegerField(_("account engagement cap"), default=60)
    # points per engaged member, for at most account_member_cap members
    account_member_points = models.IntegerField(_("account points per engaged member"), default=5)
    account_member_cap = models.IntegerField(_("account engaged members cap"), default=5)
    # points per buying role (other than "unknown") held by an engaged member
    account_role_points = models.IntegerField(_("account points per engaged role"), default=10)
    # an account at or over this total becomes a marketing-qualified account (MQA)
    account_mqa_threshold = models.IntegerField(_("account MQA threshold"), default=80)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        verbose_name = _("scoring model")
        verbose_name_plural = _("scoring models")
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
        ACTIVITY = "activity", _("Activity (engagement)")
        INACTIVITY = "inactivity", _("Inactivity (engagement)")
        FIT = "fit", _("Lead field (fit)")
        ACCOUNT_FIT = "account_fit", _("Account field (account fit)")

    class Decay(models.TextChoices):
        MODEL = "model", _("As the model")
        NONE = "none", _("No decay")
        HALF_LIFE = "half_life", _("Half-life")
        STEP = "step", _("Steps")

    model = models.ForeignKey(ScoringModel, on_delete=models.CASCADE, related_name="rules")
    # The rule's identity across versions: a new version's copy keeps it, so what a rule did
    # in earlier versions (rule precision, handover.HandoverRuleHit) stays its own.
    key = models.UUIDField(_("key"), default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    points = models.IntegerField(_("points"))
    # activity rules
    activity_kind = models.CharField(
        _("activity kind"), max_length=30, choices=ActivityKind.choices, blank=True
    )
    # [{"property","op","value"}]
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    repeatable = models.BooleanField(_("repeatable"), default=True)
    max_count = models.PositiveIntegerField(_("max count"), null=True, blank=True)
    max_points = models.PositiveIntegerField(_("max points"), null=True, blank=True)
    window_days = models.FloatField(_("window days"), null=True, blank=True)
    window_max = models.PositiveIntegerField(_("window max"), null=True, blank=True)
    decay = models.CharField(_("decay"), max_length=10, choices=Decay.choices, default=Decay.MODEL)
    half_life_days = models.FloatField(_("half life days"), null=True, blank=True)
    decay_steps = models.JSONField(_("decay steps"), default=list, blank=True)
    # inactivity rules
    inactive_days = models.FloatField(_("inactive days"), null=True, blank=True)
    # fit rules
    # a lead field, "tags" or "custom.<key>"; account fit rules: an account field
    field = models.CharField(_("field"), max_length=50, blank=True)
    op = models.CharField(_("op"), max_length=20, blank=True)
    value = models.JSONField(_("value"), null=True, blank=True)

    class Meta:
        verbose_name = _("scoring rule")
        verbose_name_plural = _("scoring rules")
        ordering = ["model", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.points:+d})"


class StoredScore(models.Model):
    """The totals a lead's or an account's last evaluation stored, and the model version."""

    # not indexed: a handful of versions over 1M rows is no index to read by, only one more to
    # write on every score, and with stale statistics the planner chose it over a batch's ids
    model = models.ForeignKey(
        ScoringModel,
        verbose_name=_("model"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    score = models.IntegerField(_("score"), default=0)
    fit_score = models.IntegerField(_("fit score"), default=0)
    engagement_score = models.IntegerField(_("engagement score"), default=0)
    grade = models.CharField(_("grade"), max_length=1, blank=True)

    class Meta:
        abstract = True


class LeadScore(StoredScore):
    """The last evaluation of a lead: the per-rule breakdown the stored score was summed from.

    ``breakdown`` is ``[[rule_id, count, points, undecayed_points], ...]`` by rule id, written by
    the same statement that writes the totals onto the lead. ``mql_armed`` re-arms the MQL
    threshold: set when the total is below it, cleared when the lead crosses into MQL.
    """

    lead = models.OneToOneField(
        Lead, verbose_name=_("lead"), primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    breakdown = models.JSONField(_("breakdown"), default=list)
    scored_at = models.DateTimeField(_("scored at"))
    mql_armed = models.BooleanField(_("mql armed"), default=True)

    class Meta:
        verbose_name = _("lead score")
        verbose_name_plural = _("lead scores")

    def __str__(self) -> str:
        return f"lead {self.lead_id}: {self.score}"


class AccountScore(StoredScore):
    """The last evaluation of an account (``scoring.account_rules.evaluate_account``).

    ``breakdown``: ``{"rules": [[rule_id, points], ...], "engaged_members": n, "engaged_roles":
    [role, ...], "parts": {"member_engagement": E1, "engaged_members": E2, "roles": E3}}``: the
    totals only (the most engaged members are read when shown). ``mqa_armed`` re-arms the MQA
    threshold (as ``LeadScore.mql_armed`` does the MQL one).
    """

    account = models.OneToOneField(
        "companies.Account",
        verbose_name=_("account"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    breakdown = models.JSONField(_("breakdown"), default=dict)
    scored_at = models.DateTimeField(_("scored at"))
    mqa_armed = models.BooleanField(_("MQA armed"), default=True)

    class Meta:
        verbose_name = _("account score")
        verbose_name_plural = _("account scores")

    def __str__(self) -> str:
        return f"account {self.account_id}: {self.score}"


class ScoringRun(Job):
    """A background pass over all leads: a rescore (publish, decay) or a dry run of a draft.
    Batches are lead-id ranges; ``last_lead_id`` commits with ``done`` (the resume point)."""

    WAITING = "queued"
    UNIT = _("leads")
    AUDIT = "scoring_run"

    class Kind(models.TextChoices):
        RESCORE = "rescore", _("Rescore")
        DRY_RUN = "dry_run", _("Dry run")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    model = models.ForeignKey(
        ScoringModel, verbose_name=_("model"), on_delete=models.CASCADE, related_name="runs"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    reason = models.CharField(_("reason"), max_length=100, blank=True)
    # resume point: batches are id ranges
    last_lead_id = models.BigIntegerField(_("last lead id"), default=0)
    written = models.PositiveIntegerField(_("written"), default=0)
    moved = models.PositiveIntegerField(_("moved"), default=0)
    result = models.JSONField(_("result"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("scoring run")
        verbose_name_plural = _("scoring runs")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} of v{self.model_id} ({self.status}, {self.done}/{self.total})"

    @property
    def resumable(self) -> bool:
        # a dry run's result is a snapshot of today: continuing one later would mix two days
        return self.kind == self.Kind.RESCORE


class DryRunLead(models.Model):
    """A lead a dry run would move into or out of MQL (and the published model would not), for
    the run's named list: its scores before and after, its source, and — for those entering —
    who the assignment rules would route it to (``handover.routing_preview``, at the run's end).
    Deleted with the run; a new attempt of the run starts its list again."""

    class Move(models.TextChoices):
        ENTER = "enter", _("Would become MQL")
        LEAVE = "leave", _("Would leave MQL")

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="+", db_index=False)
    lead_id = models.BigIntegerField()  # no foreign key: a lead deleted meanwhile drops out
    move = models.CharField(max_length=5, choices=Move.choices)
    score_before = models.IntegerField()
    score_after = models.IntegerField()
    source = models.CharField(max_length=100, blank=True)
    # where the assignment rules would send an entering lead (owner None: the team's queue)
    owner_id = models.BigIntegerField(null=True)
    team_id = models.BigIntegerField(null=True)
    routed = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "lead_id"], name="dryrunlead_one_per_run")
        ]
        indexes = [models.Index(fields=["run", "move", "lead_id"], name="dryrunlead_list_idx")]

    def __str__(self) -> str:
        return f"run {self.run_id}: lead {self.lead_id} would {self.move} MQL"


class DryRunAccount(models.Model):
    """Scratch for a dry run: one account's member totals (``scoring.account_rules.MemberTotals``)
    summed over the lead batches evaluated so far, under the published model ("before") and the
    draft ("after"). Written batch by batch, read and deleted when the run ends, so the run's
    ``result`` holds only counts, whatever the number of accounts. ``*_roles`` is a bit set of
    buying roles (``scoring.account_dry_run.ROLE_BITS``)."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="+", db_index=False)
    account_id = (
        models.BigIntegerField()
    )  # no foreign key: an account deleted meanwhile is left out
    before_engagement = models.BigIntegerField(default=0)
    before_engaged = models.IntegerField(default=0)
    before_roles = models.IntegerField(default=0)
    after_engagement = models.BigIntegerField(default=0)
    after_engaged = models.IntegerField(default=0)
    after_roles = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "account_id"], name="dryrunaccount_one_per_run")
        ]

    def __str__(self) -> str:
        return f"run {self.run_id}, account {self.account_id}"


class SweepRequest(models.Model):
    """One row: "a dirty-lead sweep is queued". Ingestion queues a sweep only when it flips this
    from false to true; the sweep flips it back *before* it looks for dirty leads, so whatever
    commits after that queues the next one (bursts coalesce; no trailing activity is missed)."""

    requested = models.BooleanField(default=False)
    requested_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"sweep requested: {self.requested}"
