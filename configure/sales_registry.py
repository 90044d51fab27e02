"""The configuration kinds the generic Settings pages edit: one entry per model, naming its form,
its list columns and what else it has. Title, description and permission come from the kind's
``Section`` (configure/sections.py), so each is declared once."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from django.db.models import Count, Model, Q, QuerySet
from django.forms import BaseInlineFormSet, ModelForm

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
from leads.models import Tag, Team, TraitMapping

Column = tuple[str, Callable[[Any], object]]  # (heading, value of a row)


@dataclass(frozen=True)
class ConfigKind:
    url_name: str  # the Section's url_name; the pages are <url_name>, _new, _edit, _delete
    model: type[Model]
    form: type[ModelForm[Any]]
    columns: tuple[Column, ...]
    queryset: Callable[[], QuerySet[Any]]
    deletable: bool = True
    inline: type[BaseInlineFormSet[Any, Any, Any]] | None = None  # edited below the form
    inline_title: str = ""
    intro: str = ""
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


def _minutes(value: int) -> str:
    hours, minutes = divmod(value, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


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
                ("Name", str),
                ("Stage", lambda p: p.get_stage_display()),
                ("Calendar", lambda p: p.calendar),
                ("Target", lambda p: _minutes(p.target_minutes)),
                ("Warn before", lambda p: _minutes(p.warn_before_minutes)),
                ("Escalation steps", lambda p: len(p.escalation)),
                ("Active", lambda p: p.active),
            ),
            lambda: SlaPolicy.objects.select_related("calendar").order_by("stage", "name"),
            intro="Minutes are business minutes of the policy's calendar. One active policy per "
            "stage. A policy that timers have used cannot be deleted: deactivate it.",
        ),
        ConfigKind(
            "calendars",
            BusinessCalendarConfig,
            f.CalendarForm,
            (
                ("Name", lambda c: c.name),
                ("Time zone", lambda c: c.time_zone),
                ("Working days", lambda c: ", ".join(d for d, i in c.working_hours.items() if i)),
                ("Holidays", lambda c: len(c.holidays)),
            ),
            lambda: BusinessCalendarConfig.objects.order_by("name"),
        ),
        ConfigKind(
            "assignment_rules",
            AssignmentRule,
            f.AssignmentRuleForm,
            (
                ("Position", lambda r: r.position),
                ("Name", str),
                ("Team", lambda r: r.team),
                ("Countries", lambda r: ", ".join(r.countries)),
                (
                    "Capacity",
                    lambda r: f"{r.capacity} / {r.capacity_period}" if r.capacity else None,
                ),
                ("Members in rotation", lambda r: r.rotation),
                ("Active", lambda r: r.active),
            ),
            lambda: AssignmentRule.objects.select_related("team").annotate(
                rotation=Count("members", filter=_in_rotation())
            ),
            inline=f.MemberFormSet,
            inline_title="Round-robin members",
            intro="Rules are tried by position; the first that matches and has a member free "
            "wins. Among free members the lowest assignments ÷ weight gets the lead.",
        ),
        ConfigKind(
            "rep_profiles",
            RepProfile,
            f.RepProfileForm,
            (
                ("Rep", lambda p: p.user),
                ("Calendar", lambda p: p.calendar),
                ("Takes new leads", lambda p: p.accepts_leads),
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
                ("Who", lambda o: o.user),
                ("From", lambda o: o.starts_at),
                ("Until", lambda o: o.ends_at),
                ("Note", lambda o: o.note),
            ),
            lambda: OutOfOffice.objects.select_related("user").order_by("-starts_at"),
        ),
        ConfigKind(
            "rejection_reasons",
            RejectionReason,
            f.RejectionReasonForm,
            (
                ("Label", lambda r: r.label),
                ("Code", lambda r: r.code),
                ("Route", lambda r: r.get_route_display()),
                ("Needs comment", lambda r: r.requires_comment),
                ("Active", lambda r: r.active),
            ),
            lambda: RejectionReason.objects.order_by("position", "id"),
            intro="A reason that decisions used cannot be deleted: deactivate it.",
        ),
        ConfigKind(
            "frameworks",
            QualificationFramework,
            f.FrameworkForm,
            (
                ("Name", lambda q: q.name),
                ("Code", lambda q: q.code),
                ("Criteria", lambda q: ", ".join(c.get("label", c["key"]) for c in q.criteria)),
                ("Pass rule", lambda q: f"{q.min_met} of {len(q.criteria)}"),
                ("Default", lambda q: q.is_default),
                ("Active", lambda q: q.active),
            ),
            lambda: QualificationFramework.objects.order_by("name"),
        ),
        ConfigKind(
            "tags",
            Tag,
            f.TagForm,
            (
                ("Name", lambda t: t.name),
                ("Colour", lambda t: t.get_colour_display()),
                ("Leads", lambda t: t.lead_count),
            ),
            lambda: Tag.objects.annotate(lead_count=Count("leads")).order_by("name"),
            intro="Anyone who may change a lead makes a tag by typing a new name on it. "
            "Deleting a tag takes it off every lead that has it (the Leads column says how many); "
            "the audit log keeps the deletion.",
        ),
        ConfigKind(
            "trait_mappings",
            TraitMapping,
            f.TraitMappingForm,
            (
                ("Trait", lambda m: m.trait),
                ("Custom field", lambda m: f"{m.field.label} ({m.field.key})"),
                ("Type", lambda m: m.field.get_type_display()),
            ),
            lambda: TraitMapping.objects.select_related("field").order_by("trait"),
            intro="An identify call's trait named here is stored in the custom field, checked "
            "as its type, instead of among the lead's traits. A value of the wrong type fails "
            "that identify (the batch reply names the trait, the field and the type expected); "
            "the rest of the batch is stored.",
        ),
        ConfigKind(
            "teams",
            Team,
            f.TeamForm,
            (
                ("Name", lambda t: t.name),
                ("Manager", lambda t: t.manager),
                ("Members", lambda t: ", ".join(map(str, t.members.all()))),
            ),
            lambda: Team.objects.select_related("manager")
            .prefetch_related("members")
            .order_by("name"),
            deletable=False,  # leads and rules would lose their team silently (SET_NULL)
        ),
    )
}
