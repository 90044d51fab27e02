"""B2B accounts: the companies leads work at, their web domains and who belongs to each.

A lead's account is its *current* ``Membership`` (``ended_at`` NULL, at most one per lead); every
earlier one stays as the lead's membership log, so a lead that changes company keeps its history.
Which source may replace which link is ``companies.matching``'s one rule.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from leadflow.models import TimeStampedModel
from leads.models import CompanySize, Lead, Team


class Tier(models.TextChoices):
    # Translators: an account-based marketing target tier; tier 1 gets the most attention
    TIER_1 = "1", _("Tier 1")
    # Translators: an account-based marketing target tier
    TIER_2 = "2", _("Tier 2")
    # Translators: an account-based marketing target tier
    TIER_3 = "3", _("Tier 3")


class Account(TimeStampedModel):
    name = models.CharField(_("name"), max_length=200)
    # the Segment group call's groupId (or another system's id); NULL where absent
    external_id = models.CharField(  # noqa: DJ001
        _("external id"), max_length=128, null=True, blank=True
    )
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    size_band = models.CharField(
        _("size band"), max_length=20, choices=CompanySize.choices, blank=True
    )
    country = models.CharField(
        _("country"), max_length=2, blank=True, help_text=_("ISO 3166-1 alpha-2")
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_accounts",
        verbose_name=_("owner"),
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("team")
    )
    tier = models.CharField(_("tier"), max_length=1, choices=Tier.choices, blank=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        verbose_name=_("parent account"),
    )
    traits = models.JSONField(_("traits"), default=dict, blank=True)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                "external_id",
                condition=Q(external_id__isnull=False),
                name="account_external_unique",
            ),
            models.CheckConstraint(
                condition=Q(tier__in=["", *Tier.values]), name="account_tier_valid"
            ),
        ]
        indexes = [
            models.Index(Lower("name"), name="account_name_lower_idx"),
            models.Index(fields=["owner", "tier"], name="account_owner_tier_idx"),
        ]
        permissions = [
            ("merge_accounts", "Can merge duplicate accounts"),
            ("set_buying_role", "Can set a member's buying-group role"),
        ]

    def __str__(self) -> str:
        return self.name


class AccountDomain(models.Model):
    """A web domain of an account, stored lower-case; each domain belongs to one account."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="domains", verbose_name=_("account")
    )
    domain = models.CharField(_("domain"), max_length=253, unique=True)
    is_primary = models.BooleanField(_("primary"), default=False)

    class Meta:
        verbose_name = _("account domain")
        verbose_name_plural = _("account domains")
        ordering = ["-is_primary", "domain"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"], condition=Q(is_primary=True), name="account_one_primary_domain"
            ),
        ]

    def __str__(self) -> str:
        return self.domain


class BuyingRole(models.TextChoices):
    DECISION_MAKER = "decision_maker", _("Decision maker")
    CHAMPION = "champion", _("Champion")
    INFLUENCER = "influencer", _("Influencer")
    USER = "user", _("User")
    BLOCKER = "blocker", _("Blocker")
    UNKNOWN = "unknown", _("Unknown")


class Membership(models.Model):
    """One stretch of a lead's belonging to an account (or, with ``account`` NULL, a person's
    explicit "no account", which keeps automatic matching away). Rows are never deleted: ending
    one and starting the next is how a lead changes company."""

    class Source(models.TextChoices):
        # ranked: a link may replace a current one from the same or a lower source only
        EXPLICIT = "explicit", _("Set by a person or an integration")
        GROUP = "group", _("Segment group call")
        DOMAIN = "domain", _("E-mail domain")

    class RoleSource(models.TextChoices):
        RULE = "rule", _("Rule")
        PERSON = "person", _("Person")

    lead = models.ForeignKey(
        Lead, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("lead")
    )
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=_("account"),
    )
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    role = models.CharField(
        _("buying role"), max_length=20, choices=BuyingRole.choices, default=BuyingRole.UNKNOWN
    )
    role_source = models.CharField(
        _("role set by"), max_length=10, choices=RoleSource.choices, default=RoleSource.RULE
    )
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("by"),
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["lead"], condition=Q(ended_at__isnull=True), name="membership_one_current"
            ),
            models.CheckConstraint(
                condition=Q(source__in=["explicit", "group", "domain"]),
                name="membership_source_valid",
            ),
            models.CheckConstraint(
                condition=Q(account__isnull=False) | Q(source="explicit"),
                name="membership_none_is_explicit",
            ),
        ]
        indexes = [
            # an account's current members with their roles, read from the index alone (the
            # account page, the account sweep: the heap rows of a batch's members were 30 % of
            # its time at 1M leads)
            models.Index(
                fields=["account", "lead"],
                include=["role"],
                condition=Q(ended_at__isnull=True),
                name="membership_current_idx",
            ),
            # a lead's current account from the index alone (lifetime value by account looks it
            # up once per customer: 22 % of that report at 1M leads; the unique partial index
            # above cannot carry the column, SQLite would drop the constraint)
            models.Index(
                fields=["lead"],
                include=["account"],
                condition=Q(ended_at__isnull=True),
                name="membership_current_account_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id} → {self.account_id}"


class AccountRescoreMark(models.Model):
    """An account whose score may be stale: written in the transaction that changed its inputs
    (a member joined or left, a role, a fit field, a member's new lead score). The account
    sweep (``scoring.services.account_scores_sweep``) deletes the marks it takes and rescores
    their accounts in the same transaction. Here, not in ``scoring``: companies writes it and
    must not import scoring."""

    id = models.BigAutoField(primary_key=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="rescore_marks")
    marked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"account {self.account_id} since {self.marked_at:%Y-%m-%d %H:%M:%S}"
