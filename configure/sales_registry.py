"""The configuration kinds the generic Settings pages edit: one entry per model, naming its form,
its list columns and what else it has. Title, description and permission come from the kind's
``Section`` (configure/sections.py), so each is declared once."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from django.conf import settings
from django.db.models import Count, Model, Q, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from attribution.models import ChannelRule, Spend
from configure import sales_forms as f
from configure.sections import SALES_SECTIONS, Section
from handover.models import (
    AssignmentRule,
    BusinessCalendarConfig,
    OutOfOffice,
    QualificationFramework,
    RejectionReason,
    RepProfile,
    SlaPolicy,
)
from leadflow.i18n import shown
from leads.models import CodedReason, ExchangeRate, ExitReason, Tag, Team, TraitMapping

Column = tuple[StrOrPromise, Callable[[Any], object]]  # (heading, value of a row)


@dataclass(frozen=True)
class Verbatim:
    """A cell showing what someone typed (a name, a pattern) rather than the product's words:
    the list renders it ``translate="no"``, so translation tools (and the language tests) leave
    it alone."""

    value: object


@dataclass(frozen=True)
class ConfigKind:
    url_name: str  # the Section's url_name; the pages are <url_name>, _new, _edit, _delete
    model: type[Model]
    form: type[ModelForm[Any]]
    columns: tuple[Column, ...]
    queryset: Callable[[], QuerySet[Any]]
    deletable: bool = True
    inline: type[BaseInlineFormSet[Any, Any, Any]] | None = None  # edited below the form
    inline_title: StrOrPromise = ""
    intro: StrOrPromise = ""
    section: Section = field(init=False)

    def __post_init__(self) -> None:
        found = next(s for s in SALES_SECTIONS if s.url_name == self.url_name)
        object.__setattr__(self, "section", found)

    @property
    def path(self) -> str:
        return self.url_name.replace("_", "-")

    @property
    def noun(self) -> str:
        return str(self.model._meta.verbose_name)


def _reasons(
    url_name: str, model: type[CodedReason], form: type[ModelForm[Any]], intro: StrOrPromise
) -> ConfigKind:
    """Rejection and exit reasons: the same list, columns and rules."""
    return ConfigKind(
        url_name,
        model,
        form,
        (
            (_("Label"), lambda r: shown(r.label)),
            (_("Code"), lambda r: r.code),
            (_("Route"), lambda r: r.get_route_display()),
            (_("Needs comment"), lambda r: r.requires_comment),
            (_("Active"), lambda r: r.active),
        ),
        lambda: model._default_manager.order_by("position", "id"),
        intro=intro,
    )


def _minutes(value: int) -> str:
    hours, minutes = divmod(value, 60)
    if hours:
        return gettext("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    return gettext("%(minutes)d min") % {"minutes": minutes}


# "5 / day": a rule's capacity per period
_PER_PERIOD: Final[dict[str, StrOrPromise]] = {
    AssignmentRule.Period.DAY: pgettext_lazy("capacity per", "day"),
    AssignmentRule.Period.WEEK: pgettext_lazy("capacity per", "week"),
    AssignmentRule.Period.MONTH: pgettext_lazy("capacity per", "month"),
}


def _capacity(rule: AssignmentRule) -> str | None:
    if not rule.capacity:
        return None
    period = _PER_PERIOD.get(rule.capacity_period, rule.capacity_period)
    return f"{rule.capacity} / {period}"


def _in_rotation() -> Q:
    return Q(members__active=True, members__user__is_active=True)


KINDS: Final[dict[str, ConfigKind]] = {
    k.url_name: k
    for k in (
        ConfigKind(
            "sla_policies",
            SlaPolicy,
            f.SlaPolicyForm,
            (
                (_("Name"), lambda p: shown(p.name)),
                (_("Stage"), lambda p: p.get_stage_display()),
                (_("Calendar"), lambda p: p.calendar),
                (_("Target"), lambda p: _minutes(p.target_minutes)),
                (_("Warn before"), lambda p: _minutes(p.warn_before_minutes)),
                (_("Escalation steps"), lambda p: len(p.escalation)),
                (_("Active"), lambda p: p.active),
            ),
            lambda: SlaPolicy.objects.select_related("calendar").order_by("stage", "name"),
            intro=_(
                "Minutes are business minutes of the policy's calendar. One active policy per "
                "stage. A policy that timers have used cannot be deleted: deactivate it."
            ),
        ),
        ConfigKind(
            "calendars",
            BusinessCalendarConfig,
            f.CalendarForm,
            (
                (_("Name"), lambda c: shown(c.name)),
                (_("Time zone"), lambda c: c.time_zone),
                (
                    _("Working days"),
                    lambda c: ", ".join(d for d, i in c.working_hours.items() if i),
                ),
                (_("Holidays"), lambda c: len(c.holidays)),
            ),
            lambda: BusinessCalendarConfig.objects.order_by("name"),
        ),
        ConfigKind(
            "assignment_rules",
            AssignmentRule,
            f.AssignmentRuleForm,
            (
                (_("Position"), lambda r: r.position),
                (_("Name"), str),
                (_("Team"), lambda r: r.team),
                (_("Countries"), lambda r: ", ".join(r.countries)),
                (_("Capacity"), _capacity),
                (_("Members in rotation"), lambda r: r.rotation),
                (_("Active"), lambda r: r.active),
            ),
            lambda: AssignmentRule.objects.select_related("team").annotate(
                rotation=Count("members", filter=_in_rotation())
            ),
            inline=f.MemberFormSet,
            inline_title=_("Round-robin members"),
            intro=_(
                "Rules are tried by position; the first that matches and has a member free "
                "wins. Among free members the lowest assignments ÷ weight gets the lead."
            ),
        ),
        ConfigKind(
            "rep_profiles",
            RepProfile,
            f.RepProfileForm,
            (
                (_("Rep"), lambda p: p.user),
                (_("Calendar"), lambda p: p.calendar),
                (_("Takes new leads"), lambda p: p.accepts_leads),
            ),
            lambda: RepProfile.objects.select_related("user", "calendar").order_by(
                "user__first_name", "user__username"
            ),
        ),
        ConfigKind(
            "out_of_office",
            OutOfOffice,
            f.OutOfOfficeForm,
            (
                (_("Who"), lambda o: o.user),
                (_("From"), lambda o: o.starts_at),
                (_("Until"), lambda o: o.ends_at),
                (_("Note"), lambda o: o.note),
            ),
            lambda: OutOfOffice.objects.select_related("user").order_by("-starts_at"),
        ),
        _reasons(
            "rejection_reasons",
            RejectionReason,
            f.RejectionReasonForm,
            _("A reason that decisions used cannot be deleted: deactivate it."),
        ),
        _reasons(
            "exit_reasons",
            ExitReason,
            f.ExitReasonForm,
            _(
                "Why leads leave after sales accepted them (SAL or SQL to Nurture or "
                "Disqualified), and the reasons bulk actions offer. The stage log keeps the code: "
                "deactivate a reason rather than delete it."
            ),
        ),
        ConfigKind(
            "frameworks",
            QualificationFramework,
            f.FrameworkForm,
            (
                (_("Name"), lambda q: q.name),
                (_("Code"), lambda q: q.code),
                (
                    _("Criteria"),
                    lambda q: ", ".join(shown(c.get("label", c["key"])) for c in q.criteria),
                ),
                (
                    _("Pass rule"),
                    lambda q: gettext("%(met)s of %(total)s")
                    % {"met": q.min_met, "total": len(q.criteria)},
                ),
                (_("Default"), lambda q: q.is_default),
                (_("Active"), lambda q: q.active),
            ),
            lambda: QualificationFramework.objects.order_by("name"),
        ),
        ConfigKind(
            "tags",
            Tag,
            f.TagForm,
            (
                (_("Name"), lambda t: t.name),
                (_("Colour"), lambda t: t.get_colour_display()),
                (_("Leads"), lambda t: t.lead_count),
            ),
            lambda: Tag.objects.annotate(lead_count=Count("leads")).order_by("name"),
            intro=_(
                "Anyone who may change a lead makes a tag by typing a new name on it. Deleting a "
                "tag takes it off every lead that has it (the Leads column says how many); the "
                "audit log keeps the deletion."
            ),
        ),
        ConfigKind(
            "channel_rules",
            ChannelRule,
            f.ChannelRuleForm,
            (
                (_("Position"), lambda r: r.position),
                (_("Channel"), lambda r: Verbatim(r.channel)),
                (_("Source matches"), lambda r: Verbatim(r.source_pattern)),
                (_("Medium matches"), lambda r: Verbatim(r.medium_pattern)),
                (_("Campaign matches"), lambda r: Verbatim(r.campaign_pattern)),
                (_("Active"), lambda r: r.active),
            ),
            lambda: ChannelRule.objects.order_by("position", "id"),
            intro=_(
                "A touch belongs to the channel of the first active rule (by position) whose "
                "patterns all match its tags: regular expressions, searched ignoring case; an "
                "empty pattern matches anything. No match: Unassigned. The attribution report "
                "groups by these rules when it runs, so an edit regroups all history at once."
            ),
        ),
        ConfigKind(
            "spend",
            Spend,
            f.SpendForm,
            (
                (_("Month"), lambda r: f"{r.month:%Y-%m}"),
                (_("Source"), lambda r: Verbatim(r.source)),
                (_("Medium"), lambda r: Verbatim(r.medium)),
                (_("Campaign"), lambda r: Verbatim(r.campaign)),
                (
                    _("Amount"),
                    lambda r: Verbatim(f"{r.amount} {r.currency or settings.LEADFLOW_CURRENCY}"),
                ),
            ),
            lambda: Spend.objects.order_by("-month", "campaign", "source", "medium"),
            intro=_(
                "What a month of a campaign cost, tagged as your links are (UTM source, medium, "
                "campaign): the return-on-spend report sets it against the revenue attributed "
                "to the same tags. A campaign (or, without one, a source) must be one that some "
                "touch carries. Many rows at once: POST /api/v1/spend/ or manage.py import_spend."
            ),
        ),
        ConfigKind(
            "exchange_rates",
            ExchangeRate,
            f.ExchangeRateForm,
            (
                (_("Currency"), lambda r: Verbatim(r.currency)),
                (_("Rate"), lambda r: r.rate),
                (
                    _("In the reporting currency"),
                    lambda r: Verbatim(f"1 {r.currency} = {r.rate} {settings.LEADFLOW_CURRENCY}"),
                ),
                (_("Updated"), lambda r: r.updated_at),
            ),
            lambda: ExchangeRate.objects.order_by("currency"),
            intro=_(
                "Money reports total in the reporting currency (LEADFLOW_CURRENCY) and convert "
                "every other currency at the rate here, held now: a new rate restates the "
                "reports. A deal may be in the reporting currency or in one listed here; a rate "
                "cannot be deleted while a lead's deal is in its currency."
            ),
        ),
        ConfigKind(
            "trait_mappings",
            TraitMapping,
            f.TraitMappingForm,
            (
                (_("Trait"), lambda m: m.trait),
                (_("Custom field"), lambda m: f"{m.field.label} ({m.field.key})"),
                (_("Type"), lambda m: m.field.get_type_display()),
            ),
            lambda: TraitMapping.objects.select_related("field").order_by("trait"),
            intro=_(
                "An identify call's trait named here is stored in the custom field, checked "
                "as its type, instead of among the lead's traits. A value of the wrong type fails "
                "that identify (the batch reply names the trait, the field and the type expected); "
                "the rest of the batch is stored."
            ),
        ),
        ConfigKind(
            "teams",
            Team,
            f.TeamForm,
            (
                (_("Name"), lambda t: t.name),
                (_("Manager"), lambda t: t.manager),
                (_("Members"), lambda t: ", ".join(map(str, t.members.all()))),
            ),
            lambda: Team.objects.select_related("manager")
            .prefetch_related("members")
            .order_by("name"),
            deletable=False,  # leads and rules would lose their team silently (SET_NULL)
        ),
    )
}
