"""Leads, their identities, their activity timeline and the append-only stage log."""

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import ProtectedError, Q, Value
from django.db.models.functions import Lower
from django.db.models.lookups import In
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from leadflow.models import TimeStampedModel
from leadflow.validators import currency_code
from leads.lifecycle import Stage


class Team(models.Model):
    """A sales team. Reps see their team's leads; managers see the teams they manage."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_teams",
        verbose_name=_("manager"),
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="teams", blank=True, verbose_name=_("members")
    )

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class CompanySize(models.TextChoices):
    # Translators: a company size in employees; write the numbers as your language does
    S1_10 = "1-10", _("1–10")
    # Translators: a company size in employees; write the numbers as your language does
    S11_50 = "11-50", _("11–50")
    # Translators: a company size in employees; write the numbers as your language does
    S51_200 = "51-200", _("51–200")
    # Translators: a company size in employees; write the numbers as your language does
    S201_1000 = "201-1000", _("201–1,000")
    # Translators: a company size in employees; write the numbers as your language does
    S1001_5000 = "1001-5000", _("1,001–5,000")
    # Translators: a company size in employees; write the numbers as your language does
    S5001_PLUS = "5001+", _("5,001+")


class Seniority(models.TextChoices):
    ENTRY = "entry", _("Entry")
    SENIOR = "senior", _("Senior")
    MANAGER = "manager", _("Manager")
    DIRECTOR = "director", _("Director")
    # Translators: a seniority: vice president
    VP = "vp", _("VP")
    CXO = "cxo", _("C-level")
    OWNER = "owner", _("Owner / founder")


class TagColour(models.TextChoices):
    """The palette tags are drawn in (each a background/text pair with 4.5:1 contrast in
    leadflow.css, ``.lead-tag-<value>``)."""

    GREY = "grey", _("Grey")
    BLUE = "blue", _("Blue")
    GREEN = "green", _("Green")
    YELLOW = "yellow", _("Yellow")
    ORANGE = "orange", _("Orange")
    RED = "red", _("Red")
    PURPLE = "purple", _("Purple")
    TEAL = "teal", _("Teal")


class Tag(models.Model):
    """A free label on leads ("webinar-2026", "partner referral"), unique whatever its case."""

    name = models.CharField(_("name"), max_length=50)
    colour = models.CharField(
        _("colour"), max_length=10, choices=TagColour.choices, default=TagColour.GREY
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="tag_name_unique",
                violation_error_message=_("There is a tag of this name already (in any case)."),
            )
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Lead(TimeStampedModel):
    # identity
    # NULL, not "", where absent: both are unique only where present.
    email = models.EmailField(  # noqa: DJ001  (normalized)
        _("email"), max_length=254, null=True, blank=True
    )
    external_id = models.CharField(  # noqa: DJ001
        _("external id"), max_length=128, null=True, blank=True
    )
    # person
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    job_title = models.CharField(_("job title"), max_length=150, blank=True)
    seniority = models.CharField(
        _("seniority"), max_length=20, choices=Seniority.choices, blank=True
    )
    # company (fit)
    company = models.CharField(_("company"), max_length=200, blank=True)
    domain = models.CharField(_("domain"), max_length=253, blank=True)  # indexed in Meta
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    company_size = models.CharField(
        _("company size"), max_length=20, choices=CompanySize.choices, blank=True
    )
    country = models.CharField(
        _("country"), max_length=2, blank=True, help_text=_("ISO 3166-1 alpha-2")
    )
    # attribution
    source = models.CharField(_("source"), max_length=100, blank=True)
    # Translators: a UTM campaign tag (utm_source); "UTM" is usually kept
    utm_source = models.CharField(_("utm source"), max_length=200, blank=True)
    # Translators: a UTM campaign tag (utm_medium); "UTM" is usually kept
    utm_medium = models.CharField(_("utm medium"), max_length=200, blank=True)
    # Translators: a UTM campaign tag (utm_campaign); "UTM" is usually kept
    utm_campaign = models.CharField(_("utm campaign"), max_length=200, blank=True)
    # Translators: a UTM campaign tag (utm_term); "UTM" is usually kept
    utm_term = models.CharField(_("utm term"), max_length=200, blank=True)
    # Translators: a UTM campaign tag (utm_content); "UTM" is usually kept
    utm_content = models.CharField(_("utm content"), max_length=200, blank=True)
    # ownership and lifecycle (stage is written only by leads.services._move_stage)
    # owner and team: no index of their own, lead_owner_stage_time_idx and lead_team_stage_idx start
    # with them (every index is written again by each score or stage change of the lead)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_leads",
        db_index=False,
        verbose_name=_("owner"),
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
        verbose_name=_("team"),
    )
    stage = models.CharField(
        _("stage"), max_length=20, choices=Stage.choices, default=Stage.SUSPECT
    )
    stage_changed_at = models.DateTimeField(_("stage changed at"))
    # scores, denormalised by the scoring engine for the board (the breakdown lives in scoring)
    score = models.IntegerField(_("score"), default=0)
    fit_score = models.IntegerField(_("fit score"), default=0)
    engagement_score = models.IntegerField(_("engagement score"), default=0)
    grade = models.CharField(_("grade"), max_length=1, blank=True)  # A-D fit grade
    scored_at = models.DateTimeField(_("scored at"), null=True, blank=True)
    # engagement counts only activities after this (a recycled lead starts afresh)
    score_reset_at = models.DateTimeField(_("score reset at"), null=True, blank=True)
    # the deal's money, in ``currency`` ("" = the reporting currency, LEADFLOW_CURRENCY): what the
    # rep expects it to be worth while it is open, and the won value (set by lead_convert)
    expected_value = models.DecimalField(
        _("expected value"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    deal_value = models.DecimalField(
        _("deal value"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(_("currency"), max_length=3, blank=True, default="", db_default="")
    # written by the predictive model (probability of the configured outcome, 0..1)
    conversion_probability = models.FloatField(_("conversion probability"), null=True, blank=True)
    # consent
    email_opt_out = models.BooleanField(_("email opt out"), default=False)
    do_not_call = models.BooleanField(_("do not call"), default=False)
    # free-form extra traits (Segment identify traits we do not map to columns)
    traits = models.JSONField(_("traits"), default=dict, blank=True)
    # when each field's value was true ({"job_title": iso time, "traits.plan": ...}): an event
    # older than the value it would replace changes nothing (identify traits apply by event
    # time, not arrival). NULL: nothing recorded (bulk loaders need not name the column).
    field_times = models.JSONField(_("field times"), null=True, blank=True)
    # privacy (written by the privacy app's services; leads only reads them)
    # digits of ``phone`` with a leading "+" kept: what "same phone" duplicate detection compares
    # db_default: bulk loaders (COPY in generate_data) that do not name the column still work
    phone_normalized = models.CharField(
        _("phone normalized"), max_length=40, blank=True, default="", db_default=""
    )
    # when e-mail consent ended
    email_opt_out_at = models.DateTimeField(_("email opt out at"), null=True, blank=True)
    # set when the person was erased (GDPR art. 17): the row stays, de-identified, for reports
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True)
    # the import job that last matched this lead (finds duplicates within one file, memory-free)
    last_import_id = models.BigIntegerField(_("last import id"), null=True, blank=True)
    tags = models.ManyToManyField(Tag, related_name="leads", blank=True, verbose_name=_("tags"))
    # values of the admins' custom fields ({key: value}, typed by leads.customfields); GIN-indexed
    # on PostgreSQL, plus an expression index per field marked filterable (created on demand)
    custom = models.JSONField(
        _("custom"),
        default=dict,
        blank=True,
        db_default=Value({}, models.JSONField()),
    )

    class Meta:
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        constraints = [
            models.UniqueConstraint(
                Lower("email"), condition=Q(email__isnull=False), name="lead_email_unique"
            ),
            models.UniqueConstraint(
                "external_id", condition=Q(external_id__isnull=False), name="lead_external_unique"
            ),
            models.CheckConstraint(condition=Q(stage__in=Stage.values), name="lead_stage_valid"),
        ]
        indexes = [
            # stage filters and counts. No index here may name a score column: a rescore then
            # writes only the lead row (a HOT update), not an entry in each of these indexes;
            # the board's order by score lives in LeadRank
            models.Index(fields=["stage"], name="lead_stage_idx"),
            # a rep's leads of a stage, longest in it first (the inbox's SALs to qualify)
            models.Index(
                fields=["owner", "stage", "stage_changed_at"], name="lead_owner_stage_time_idx"
            ),
            # a rep's board: their teams' leads of one stage (browser UI)
            models.Index(fields=["team", "stage"], name="lead_team_stage_idx"),
            models.Index(fields=["source", "created_at"], name="lead_source_created_idx"),
            # exact matches only (duplicate detection): plain btrees, not db_index=True, which
            # adds a second, varchar_pattern_ops index for LIKE on PostgreSQL
            models.Index(fields=["domain"], name="lead_domain_idx"),
            models.Index(fields=["phone_normalized"], name="lead_phone_idx"),
            # custom field values: a GIN index (containment, @>) on PostgreSQL, made by
            # migration 0015, plus an expression index per filterable field made on demand
            # no search index here: the search text lives in LeadSearchDocument, so rewriting a
            # lead's score does not rewrite a GIN index (issue 22)
        ]
        permissions = [
            ("view_all_leads", "Can see every lead, whoever owns it"),
            ("move_lead_stage", "Can move leads through the lifecycle"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return lead_display_name(
            self.first_name, self.last_name, self.email, self.external_id, self.pk
        )


def lead_display_name(
    first_name: str, last_name: str, email: str | None, external_id: str | None, pk: object
) -> str:
    """How a lead is named on every page: its name, else its e-mail, else its external id.
    (A function of its columns, so pages that read columns rather than a ``Lead`` name it
    alike: the SAL inbox.)"""
    name = f"{first_name} {last_name}".strip()
    return name or email or external_id or gettext("Lead #%(id)s") % {"id": pk}


def email_in(emails: Iterable[str]) -> Q:
    """Leads with one of ``emails``, compared as lead_email_unique is built, on lower(email):
    PostgreSQL answers it from that index, where ``email__iexact`` (UPPER(email)) and
    ``email=`` scan every lead (575 ms against 0.35 ms per lookup at 1M leads)."""
    return Q(In(Lower("email"), sorted({email.lower() for email in emails})))


class LeadRank(models.Model):
    """A lead's stage and score, one narrow row per lead, indexed for the board: the top of a
    stage by score, keyset-paged (leads.selectors.board_column).

    Out of ``leads_lead`` so that writing a score touches no index of the wide table
    (PostgreSQL then updates the row in place, a HOT update): an incremental rescore of 10,000
    leads wrote an entry into each of 11 indexes, ≈ 450 ms of its CPU (issue 22 item 3).

    Written only by database triggers (migration 0018) whenever a lead is inserted or its stage
    or score changes, by whatever path: ORM, COPY, set-based UPDATE. The database deletes the
    row with its lead (ON DELETE CASCADE on PostgreSQL, a trigger on SQLite).
    """

    lead = models.OneToOneField(
        Lead, on_delete=models.DO_NOTHING, primary_key=True, related_name="board_rank"
    )
    stage = models.CharField(max_length=20)
    score = models.IntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["stage", "-score", "-lead"], name="lead_rank_board_idx"),
            # score ranges and score order over every stage (board filter, list, API)
            models.Index(fields=["-score", "-lead"], name="lead_rank_score_idx"),
        ]

    def __str__(self) -> str:
        return f"rank of lead {self.lead_id}: {self.stage} {self.score}"


class LeadSearchDocument(models.Model):
    """The text search looks in (leads.search), one narrow row per lead, out of the hot leads
    table: a score or stage write does not touch it or its GIN indexes.

    PostgreSQL only, and written only by database triggers (migration 0012)
    whenever a searchable field of a lead (name, e-mail, company, domain, job title, erasure) or
    one of its notes changes, whichever path wrote it: ORM, COPY, bulk UPDATE, merge, erasure.
    ``document`` is the lower-cased text (pg_trgm GIN: substrings and typos), ``search_vector``
    its words (GIN: full-text). An erased lead's document is empty. SQLite keeps this table
    empty and search scans the lead columns instead.
    """

    # DO_NOTHING here: the database deletes the document with its lead (ON DELETE CASCADE,
    # set by migration 0012), so raw DELETEs and merges need no ORM cascade either
    lead = models.OneToOneField(
        Lead, on_delete=models.DO_NOTHING, primary_key=True, related_name="search_document"
    )
    document = models.TextField(default="")
    search_vector = SearchVectorField(null=True)

    def __str__(self) -> str:
        return f"search document of lead {self.lead_id}"


class RescoreMark(models.Model):
    """A lead whose score may be stale: written in the transaction that changed its inputs (an
    activity, fit fields, a merge, a reset). The scoring sweep deletes the marks it takes and
    rescores their leads in the same transaction; a mark committed meanwhile stays for the next.

    A queue of its own rather than a column on the lead: clearing a column rewrote every swept
    lead row with all of its indexes, most of an incremental sweep's time.
    """

    id = models.BigAutoField(primary_key=True)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="rescore_marks")
    marked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"lead {self.lead_id} since {self.marked_at:%Y-%m-%d %H:%M:%S}"


class Identity(models.Model):
    """Other ids that resolve to a lead: Segment anonymousId/userId, ids from other systems."""

    class Kind(models.TextChoices):
        ANONYMOUS_ID = "anonymous_id", _("Anonymous id")
        USER_ID = "user_id", _("User id")

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="identities", verbose_name=_("lead")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    value = models.CharField(_("value"), max_length=200)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="identity_kind_value_unique")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class ActivityKind(models.TextChoices):
    PAGE_VIEW = "page_view", _("Page view")
    SCREEN_VIEW = "screen_view", _("Screen view")  # a mobile app's page (Segment ``screen``)
    FORM_SUBMIT = "form_submit", _("Form submitted")
    DOWNLOAD = "download", _("Download")
    WEBINAR = "webinar", _("Webinar attended")
    EMAIL_OPEN = "email_open", _("E-mail opened")
    EMAIL_CLICK = "email_click", _("E-mail clicked")
    EMAIL_BOUNCE = "email_bounce", _("E-mail bounced")
    UNSUBSCRIBE = "unsubscribe", _("Unsubscribed")
    MEETING = "meeting", _("Meeting")
    TRIAL = "trial", _("Trial started")
    CUSTOM = "custom", _("Custom event")
    # logged by a person on the lead page (issue 17): outcome and minutes in ``properties``,
    # see leads/interactions.py. Not MEETING, which is a meeting the lead booked themselves.
    SALES_CALL = "sales_call", _("Call (logged by sales)")
    SALES_MEETING = "sales_meeting", _("Meeting (logged by sales)")
    SALES_EMAIL = "sales_email", _("E-mail (logged by sales)")


class Activity(models.Model):
    """One thing a lead did. Append-only; ``message_id`` makes ingestion exactly-once."""

    # no index of its own: activity_lead_time_kind_idx starts with lead_id and serves every
    # lookup by lead, so a second one only cost a write per stored activity (87 MB at 10M)
    lead = models.ForeignKey(
        Lead,
        on_delete=models.CASCADE,
        related_name="activities",
        db_index=False,
        verbose_name=_("lead"),
    )
    kind = models.CharField(_("kind"), max_length=30, choices=ActivityKind.choices)
    # e.g. the Segment event name
    name = models.CharField(_("name"), max_length=200, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    properties = models.JSONField(_("properties"), default=dict, blank=True)
    # api, segment, import, demo, ...
    source = models.CharField(_("source"), max_length=50, blank=True)
    message_id = models.CharField(
        _("message id"), max_length=200, null=True, blank=True, unique=True
    )
    # the person who logged a call, meeting or e-mail; empty for everything ingested
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        verbose_name=_("actor"),
    )

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        indexes = [
            # the scoring aggregate reads (lead, occurred_at, kind) only: covering
            models.Index(
                fields=["lead", "occurred_at", "kind"], name="activity_lead_time_kind_idx"
            ),
            # only for deleting a user (SET NULL): partial, so ingested rows cost nothing
            models.Index(
                fields=["actor"], condition=Q(actor__isnull=False), name="activity_actor_idx"
            ),
        ]

    def __str__(self) -> str:
        return gettext("%(kind)s by lead %(lead)s at %(time)s") % {
            "kind": self.kind,
            "lead": self.lead_id,
            "time": f"{self.occurred_at:%Y-%m-%d %H:%M}",
        }


class IdentifyReceipt(models.Model):
    """An ``identify``, ``group`` or ``alias`` message that was applied, by messageId: a re-sent
    one changes nothing.

    Not an Activity: these are statements about a person, not something they did, and
    activities feed scoring, timelines and reports. The lead is kept for support only: an
    anonymous shell merged away leaves the receipt (and the dedupe) in place.
    """

    id = models.BigAutoField(primary_key=True)
    message_id = models.CharField(max_length=200, unique=True)
    lead = models.ForeignKey(
        Lead, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"identify {self.message_id} for lead {self.lead_id}"


class CodedReason(models.Model):
    """A reason people pick from a configured list (rejection and exit reasons): the code is
    what records keep and reports count, the label what people read."""

    # what settings pages and the settings API edit
    SETTINGS_FIELDS: tuple[str, ...] = (
        "code",
        "label",
        "route",
        "reset_engagement",
        "requires_comment",
        "active",
        "position",
    )

    code = models.SlugField(max_length=50, unique=True, verbose_name=_("code"))
    label = models.CharField(max_length=100, verbose_name=_("label"))
    reset_engagement = models.BooleanField(
        default=False,
        help_text=_("Engagement restarts from zero (recycled leads earn MQL again)"),
        verbose_name=_("reset engagement"),
    )
    requires_comment = models.BooleanField(default=False, verbose_name=_("requires comment"))
    active = models.BooleanField(default=True, verbose_name=_("active"))
    position = models.PositiveIntegerField(default=100, verbose_name=_("position"))

    class Meta:
        abstract = True
        ordering = ("position", "id")

    def __str__(self) -> str:
        return self.label

    def text(self, comment: str) -> str:
        """What the records keep as the reason: the label, and the comment if there is one."""
        return f"{self.label}: {comment}" if comment else self.label


class ExitReason(CodedReason):
    """Why a lead left the funnel after sales accepted it (SAL or SQL to Nurture or
    Disqualified: lost, no budget, went dark, ...). Every such move names one, so the reasons
    can be counted. The stage log keeps the code, so a reason is deactivated, not deleted."""

    class Route(models.TextChoices):
        NURTURE = "nurture", _("Recycle to nurture")
        DISQUALIFY = "disqualify", _("Disqualify")
        EITHER = "either", _("Either")

    SETTINGS_FIELDS = (*CodedReason.SETTINGS_FIELDS, "counts_as_lost")

    route = models.CharField(
        max_length=20, choices=Route.choices, default=Route.EITHER, verbose_name=_("route")
    )
    counts_as_lost = models.BooleanField(
        default=True,
        help_text=_(
            "Predictive scoring learns from a lead that left with this reason as a lost one. "
            "Turn it off for reasons that say nothing about the lead's interest (a duplicate, "
            "bad data, a timing push): such leads are then not trained on."
        ),
        verbose_name=_("counts as lost"),
    )

    class Meta(CodedReason.Meta):
        verbose_name = _("exit reason")
        verbose_name_plural = _("exit reasons")

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Refused (``ProtectedError``, as a foreign key's PROTECT would) while the stage log
        names it: the exits report would lose the label. Deactivate it instead."""
        used = StageChange.objects.filter(reason_code=self.code).only("pk")
        if used.exists():
            raise ProtectedError(f"exit reason {self.code} is in the stage log", set(used))
        return super().delete(*args, **kwargs)

    def fits(self, to: str) -> bool:
        """Whether this reason may send a lead to stage ``to`` (nurture or disqualified)."""
        return self.route == self.Route.EITHER or self.route == (
            self.Route.NURTURE if to == "nurture" else self.Route.DISQUALIFY
        )


class StageChange(models.Model):
    """The append-only stage log. Every report reads it; nothing updates or deletes a row."""

    class Source(models.TextChoices):
        UI = "ui", _("Web UI")
        API = "api", _("API")
        SCORING = "scoring", _("Scoring")
        HANDOVER = "handover", _("Handover")
        SLA = "sla", _("SLA escalation")
        IMPORT = "import", _("Import")
        SYSTEM = "system", _("System")

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="stage_changes", verbose_name=_("lead")
    )
    from_stage = models.CharField(  # "" = created
        _("from stage"), max_length=20, choices=Stage.choices, blank=True
    )
    to_stage = models.CharField(_("to stage"), max_length=20, choices=Stage.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("actor"),
    )
    actor_kind = models.CharField(_("actor kind"), max_length=20)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    # The ExitReason's code for a coded exit ("" otherwise); kept if the reason is renamed.
    reason_code = models.CharField(
        _("reason code"), max_length=50, blank=True, default="", db_default=""
    )
    changed_at = models.DateTimeField(_("changed at"))
    # The lead's owner, team and source in force when it moved (after the assignment the move
    # itself made), so reports can show a lead "as it was then" after it is reassigned. No
    # indexes: reports read them through the milestone rollup.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        verbose_name=_("owner then"),
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        verbose_name=_("team then"),
    )
    lead_source = models.CharField(
        _("lead source then"), max_length=100, blank=True, default="", db_default=""
    )
    # the deal's expected value in force when it moved, and its currency: what a loss after
    # SQL cost, as it was then
    value = models.DecimalField(
        _("deal value then"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    currency = models.CharField(
        _("currency then"), max_length=3, blank=True, default="", db_default=""
    )

    class Meta:
        verbose_name = _("stage change")
        verbose_name_plural = _("stage changes")
        indexes = [
            models.Index(fields=["lead", "changed_at", "id"], name="stagechange_lead_time_idx"),
            models.Index(fields=["to_stage", "changed_at"], name="stagechange_to_time_idx"),
        ]

    def __str__(self) -> str:
        return gettext("lead %(lead)s: %(from)s → %(to)s") % {
            "lead": self.lead_id,
            "from": self.from_stage or "∅",
            "to": self.to_stage,
        }


class Note(models.Model):
    """A person's note on a lead (shown in the lead's timeline). Append-only from the UI."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        indexes = [models.Index(fields=["lead", "-created_at"], name="note_lead_time_idx")]

    def __str__(self) -> str:
        return gettext("note on lead %(lead)s at %(time)s") % {
            "lead": self.lead_id,
            "time": f"{self.created_at:%Y-%m-%d %H:%M}",
        }


class Task(models.Model):
    """A follow-up on a lead ("call back Tuesday"), optionally due and assigned to someone."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200)
    due_at = models.DateTimeField(null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="lead_tasks",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        indexes = [
            models.Index(fields=["lead", "done_at", "due_at"], name="task_lead_open_idx"),
            models.Index(
                fields=["assignee", "due_at"],
                condition=Q(done_at__isnull=True),
                name="task_assignee_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class SavedView(models.Model):
    """A named set of board/list filters (the query string), private to its owner."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_lead_views"
    )
    name = models.CharField(max_length=80)
    query = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("saved view")
        verbose_name_plural = _("saved views")
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="savedview_owner_name_unique")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class FieldType(models.TextChoices):
    TEXT = "text", _("Text")
    LONG_TEXT = "long_text", _("Long text")
    INTEGER = "integer", _("Whole number")
    DECIMAL = "decimal", _("Decimal number")
    MONEY = "money", _("Money")
    DATE = "date", _("Date")
    DATETIME = "datetime", _("Date and time")
    BOOLEAN = "boolean", _("Yes/no")
    CHOICE = "choice", _("Single choice")
    MULTI_CHOICE = "multi_choice", _("Multiple choice")
    URL = "url", _("URL")
    EMAIL = "email", _("E-mail")
    USER = "user", _("User")


class CustomField(models.Model):
    """An admin's own field on leads ("ERP in use", "Locations"). Values live in
    ``Lead.custom[key]``; their types and checks in ``leads.customfields``; changes of key, type
    and deletion in ``leads.customfield_services`` (which keep or audit every value)."""

    class Entity(models.TextChoices):
        LEAD = "lead", _("Lead")

    entity = models.CharField(max_length=20, choices=Entity.choices, default=Entity.LEAD)
    key = models.CharField(max_length=40)
    label = models.CharField(max_length=80)
    type = models.CharField(max_length=20, choices=FieldType.choices)
    required = models.BooleanField(default=False)
    default = models.JSONField(null=True, blank=True)  # a clean value of ``type``, or null
    help_text = models.CharField(max_length=200, blank=True)
    # [{"value": stable key, "label": shown}]: a label renames, the value stays in the data
    choices = models.JSONField(default=list, blank=True)
    currency = models.CharField(max_length=3, blank=True)  # money fields: ISO 4217
    # role names (leadflow.roles.Role); empty: every role. Admins always see and edit.
    visible_to = models.JSONField(default=list, blank=True)
    editable_by = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)
    show_on_cards = models.BooleanField(default=False)
    filterable = models.BooleanField(default=False)  # has its own expression index
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        constraints = [
            models.UniqueConstraint(fields=["entity", "key"], name="customfield_key_unique")
        ]
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label

    def choice_label(self, value: object) -> str:
        for choice in self.choices:
            if choice.get("value") == value:
                return str(choice.get("label") or value)
        return str(value)


class TraitMapping(models.Model):
    """Segment ``identify`` trait -> custom field: the trait's value is checked as the field's
    type and stored in ``Lead.custom`` instead of ``Lead.traits``."""

    trait = models.CharField(max_length=100, unique=True)
    field = models.ForeignKey(CustomField, on_delete=models.CASCADE, related_name="trait_mappings")

    class Meta:
        verbose_name = _("trait mapping")
        verbose_name_plural = _("trait mappings")
        ordering = ["trait"]

    def __str__(self) -> str:
        return f"{self.trait} → {self.field.key}"


class ExchangeRate(models.Model):
    """What one unit of ``currency`` is worth in the reporting currency (LEADFLOW_CURRENCY).
    Money reports convert at the rate held now; a rate may not go while a lead's deal is in its
    currency (leads/money.py)."""

    currency = models.CharField(
        _("currency"),
        max_length=3,
        unique=True,
        validators=[currency_code],
        help_text=_("ISO 4217 code, e.g. HUF."),
    )
    rate = models.DecimalField(
        _("rate"),
        max_digits=18,
        decimal_places=8,
        help_text=_("One unit of this currency in the reporting currency, e.g. 0.0025."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("exchange rate")
        verbose_name_plural = _("exchange rates")
        constraints = [
            models.CheckConstraint(condition=Q(rate__gt=0), name="exchangerate_rate_positive")
        ]

    def __str__(self) -> str:
        return f"{self.currency} {self.rate}"

    def clean(self) -> None:
        self.currency = (self.currency or "").strip().upper()
        if self.currency == settings.LEADFLOW_CURRENCY:
            raise ValidationError(
                {"currency": _("%(code)s is the reporting currency: its rate is always 1.")
                 % {"code": self.currency}}
            )  # fmt: skip
        if self.rate is not None and self.rate <= 0:
            raise ValidationError({"rate": _("A rate must be more than 0.")})

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Refused (``ProtectedError``) while a lead's deal is in this currency: reports could
        not convert it."""
        used = Lead.objects.filter(currency=self.currency).only("pk")
        if used.exists():
            raise ProtectedError(f"leads hold deals in {self.currency}", set(used))
        return super().delete(*args, **kwargs)


class Win(models.Model):
    """A customer's later won deal: a renewal, an upsell, another order. The win that made the
    lead a customer is its ``deal_value``; lifetime value is that plus these (reports/ltv.py)."""

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="wins", verbose_name=_("lead")
    )
    won_at = models.DateTimeField(_("won at"))
    value = models.DecimalField(_("value"), max_digits=14, decimal_places=2)
    currency = models.CharField(
        _("currency"), max_length=3, blank=True, default="", db_default=""
    )  # "" = the reporting currency (leads/money.py)
    note = models.CharField(_("note"), max_length=200, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("repeat win")
        verbose_name_plural = _("repeat wins")
        indexes = [models.Index(fields=["lead", "won_at"], name="win_lead_time_idx")]
        constraints = [models.CheckConstraint(condition=Q(value__gte=0), name="win_value_gte_0")]

    def __str__(self) -> str:
        return f"{self.lead_id} {self.won_at:%Y-%m-%d} {self.value} {self.currency}"
