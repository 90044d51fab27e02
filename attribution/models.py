"""Touches, channel grouping rules, and the attribution credits with their daily rollup."""

import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from attribution.credit import MODEL_NAMES
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
    in the transaction of the change (new activities, a stage change, an edit, a deletion)."""

    lead_id = models.BigIntegerField(primary_key=True)  # no FK: deleted leads are marked too
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
