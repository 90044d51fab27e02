"""Touches, channel grouping rules, and the attribution credits with their daily rollup."""

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from attribution.credit import MODEL_NAMES
from leads import money
from leads.models import Lead

# the six models' columns, named as the models: credit in ppm, revenue in cents (rev_<model>)
CREDIT_FIELDS = MODEL_NAMES
REVENUE_FIELDS = tuple(f"rev_{name}" for name in MODEL_NAMES)


class Outcome(models.TextChoices):
    MQL = "mql", _("MQL")
    SQL = "sql", _("SQL")
    CUSTOMER = "customer", _("Customer")


def _check_pattern(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(
            gettext("Not a regular expression: %(error)s.") % {"error": exc}
        ) from None


class ChannelRule(models.Model):
    """One line of the channel grouping: a touch whose tags match every pattern given (regular
    expressions, searched case-insensitively; an empty pattern matches anything) belongs to
    ``channel``. The first matching rule by position wins; no match is "Unassigned"."""

    position = models.PositiveIntegerField(_("position"), default=0)
    channel = models.CharField(_("channel"), max_length=60)
    source_pattern = models.CharField(
        _("source pattern"), max_length=500, blank=True, validators=[_check_pattern]
    )
    medium_pattern = models.CharField(
        _("medium pattern"), max_length=500, blank=True, validators=[_check_pattern]
    )
    campaign_pattern = models.CharField(
        _("campaign pattern"), max_length=500, blank=True, validators=[_check_pattern]
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("channel rule")
        verbose_name_plural = _("channel rules")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.channel


class Touch(models.Model):
    """A moment a channel brought the lead to us (attribution/touches.py says which). Derived
    from the activities and the lead: rewritten whenever the lead is refreshed."""

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="+", db_index=False, verbose_name=_("lead")
    )
    occurred_at = models.DateTimeField(_("occurred at"))
    kind = models.CharField(_("kind"), max_length=20)
    source = models.CharField(_("source"), max_length=200, blank=True)
    medium = models.CharField(_("medium"), max_length=200, blank=True)
    campaign = models.CharField(_("campaign"), max_length=200, blank=True)
    # the activity it came from; none for the lead's creation
    activity_id = models.BigIntegerField(_("activity"), null=True, blank=True)

    class Meta:
        verbose_name = _("touch")
        verbose_name_plural = _("touches")
        indexes = [models.Index(fields=["lead", "occurred_at"], name="touch_lead_time_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.source}/{self.medium}/{self.campaign}"


class RefreshMark(models.Model):
    """A lead whose touches or outcomes may have changed; the refresh sweep takes it. Written
    in the transaction of the change (new activities, a stage change, an edit, a deletion), one
    row per change: the sweep removes the rows it read, so a mark committed while it refreshed
    (perhaps a change the refresh did not see) stays for the next. (One row per lead, inserted
    with ``ON CONFLICT DO NOTHING``, lost such a change: the writer's mark was the old row.)"""

    id = models.BigAutoField(primary_key=True)
    lead_id = models.BigIntegerField(_("lead"), db_index=True)  # no FK: deleted leads too
    marked_at = models.DateTimeField(_("marked at"))

    class Meta:
        verbose_name = _("attribution refresh mark")
        verbose_name_plural = _("attribution refresh marks")

    def __str__(self) -> str:
        return f"lead {self.lead_id}"


class _Credits(models.Model):
    """Each model's credit (ppm: 1,000,000 is one whole outcome) and revenue share (cents)."""

    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    day = models.DateField(_("day"))  # the outcome's day, in the site's time zone
    source = models.CharField(_("source"), max_length=200, blank=True)
    medium = models.CharField(_("medium"), max_length=200, blank=True)
    campaign = models.CharField(_("campaign"), max_length=200, blank=True)
    first = models.BigIntegerField(default=0)
    last = models.BigIntegerField(default=0)
    linear = models.BigIntegerField(default=0)
    time_decay = models.BigIntegerField(default=0)
    u_shaped = models.BigIntegerField(default=0)
    w_shaped = models.BigIntegerField(default=0)
    rev_first = models.BigIntegerField(default=0)
    rev_last = models.BigIntegerField(default=0)
    rev_linear = models.BigIntegerField(default=0)
    rev_time_decay = models.BigIntegerField(default=0)
    rev_u_shaped = models.BigIntegerField(default=0)
    rev_w_shaped = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class LeadCredit(_Credits):
    """One lead's credits for one outcome, per set of channel tags (touches with the same tags
    add up). What the rollup holds for the lead, so a refresh can take it out again."""

    lead_id = models.BigIntegerField(_("lead"))  # no FK: a deleted lead's credits leave by refresh

    class Meta:
        verbose_name = _("lead credit")
        verbose_name_plural = _("lead credits")
        constraints = [
            models.UniqueConstraint(
                fields=["lead_id", "outcome", "source", "medium", "campaign"],
                name="leadcredit_lead_outcome_tags_unique",
            )
        ]

    def __str__(self) -> str:
        return f"lead {self.lead_id} {self.outcome} {self.source}"


class CreditDay(_Credits):
    """The sum of every lead's credits per outcome day and channel tags: what reports read."""

    class Meta:
        verbose_name = _("credit day")
        verbose_name_plural = _("credit days")
        constraints = [
            models.UniqueConstraint(
                fields=["outcome", "day", "source", "medium", "campaign"],
                name="creditday_key_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.outcome} {self.source}"


class Spend(models.Model):
    """What a month of a campaign (or of a source / medium) cost, for return on investment.
    Tagged as touches are: a spend row counts for the channel its tags group into, as a touch
    with those tags would (attribution/spend.py checks them against the touches)."""

    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    source = models.CharField(_("source"), max_length=200, blank=True)
    medium = models.CharField(_("medium"), max_length=200, blank=True)
    campaign = models.CharField(_("campaign"), max_length=200, blank=True)
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(
        _("currency"), max_length=3, blank=True, default="", db_default=""
    )  # "" = the reporting currency (leads/money.py)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # not a field: the touches' spellings an import loaded for all its rows (``known_tags``)
    known: dict[tuple[str, str], str] | None = None

    class Meta:
        verbose_name = _("campaign spend")
        verbose_name_plural = _("campaign spend")
        constraints = [
            models.UniqueConstraint(
                fields=["month", "source", "medium", "campaign"], name="spend_key_unique"
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="spend_amount_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.source}/{self.medium}/{self.campaign} {self.amount}"

    def clean(self) -> None:
        """The month is its first day; the tags are those touches carry (a campaign, else a
        source, that some touch has: "unknown campaign" otherwise), spelled as the touches
        spell them; the currency one a deal may be in. ``known`` (set by an import that checks
        many rows with one query) maps lower-cased tags to their spelling."""
        if self.month is not None:
            self.month = self.month.replace(day=1)
        self.source, self.medium, self.campaign = (
            (value or "").strip() for value in (self.source, self.medium, self.campaign)
        )
        if not self.campaign and not self.source:
            raise ValidationError({"campaign": gettext("Give a campaign, a source or both.")})
        known = self.known or known_tags([self])
        for field in ("campaign", "source"):
            value = getattr(self, field)
            if not value:
                continue
            spelled = known.get((field, value.lower()))
            if spelled is None:
                raise ValidationError(
                    {field: gettext(
                        "No touch has the %(field)s '%(value)s': check the spelling against "
                        "the UTM tags your links carry."
                    ) % {"field": field, "value": value}}
                )  # fmt: skip
            setattr(self, field, spelled)
            if field == "campaign":
                break  # a known campaign decides; its source may be new (a new ad network)
        try:
            self.currency = money.deal_currency(self.currency)
        except ValidationError as exc:
            raise ValidationError({"currency": exc.messages}) from None


def known_tags(rows: "list[Spend]") -> dict[tuple[str, str], str]:
    """How touches spell the campaigns and sources ``rows`` name, any case: one scan of the
    touches for all of them, {("campaign", lower name): spelling}."""
    out: dict[tuple[str, str], str] = {}
    for field in ("campaign", "source"):
        wanted = {getattr(r, field).strip().lower() for r in rows if getattr(r, field)}
        if not wanted:
            continue
        found = (
            Touch.objects.annotate(tag=Lower(field))
            .filter(tag__in=wanted)
            .order_by()
            .values_list("tag", field)
            .distinct()
        )
        for tag, spelling in found:
            out.setdefault((field, tag), spelling)
    return out
