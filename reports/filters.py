"""The one filter form of every report, used by the pages, the JSON API and the CSV export."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from attribution.credit import MODEL_NAMES, MODELS
from attribution.selectors import GROUPINGS as ATTRIBUTION_GROUPINGS
from attribution.selectors import OUTCOMES as ATTRIBUTION_OUTCOMES
from leadflow.models import User
from leads import customfields
from leads.models import Lead, Team

CUSTOM = "custom."  # sources_by=custom.<key>: group by a choice or yes/no custom field

GROUPINGS = {
    "cohort_by": [
        ("month", _("MQL month")),
        ("source", _("Source")),
        ("month_source", _("Month × source")),
    ],
    "sla_by": [("policy", _("Policy")), ("team", _("Team")), ("rep", _("Rep"))],
    "rejections_by": [("source", _("Source")), ("rep", _("Rep"))],
    "exits_by": [
        ("reason", _("Reason only")),
        ("source", _("Source")),
        ("rep", _("Rep")),
        ("team", _("Team")),
    ],
    "mqa_by": [
        ("month", _("MQA month")),
        ("tier", _("Tier")),
        ("source", _("Source")),
        ("month_tier", _("Month × tier")),
        ("month_source", _("Month × source")),
    ],
    "attribution_by": ATTRIBUTION_GROUPINGS,
    "pipeline_by": [
        ("age", _("Time in SQL")),
        ("rep", _("Rep")),
        ("team", _("Team")),
        ("source", _("Source")),
        ("month", _("Month entered SQL")),
    ],
    "ltv_by": [
        ("channel", _("First-touch channel")),
        ("source", _("Source")),
        ("account", _("Account")),
        ("customer", _("Customer")),
    ],
    "sources_by": [
        ("source", _("Source")),
        ("utm_source", _("UTM source")),
        ("utm_medium", _("UTM medium")),
        ("utm_campaign", _("UTM campaign")),
        ("industry", _("Industry / segment")),
    ],
}


# Which values of a lead's owner, team and source the reports use: those recorded on its stage
# changes ("then": who had it when it moved) or the lead's values today ("now").
THEN, NOW = "then", "now"
VIEWS = [
    (THEN, _("As it was then")),
    (NOW, _("As it is now")),
]
# where the per-lead rollup keeps the values "then" (reports.LeadMilestone)
MILESTONE_THEN: Final = {
    "source": "then_source",
    "owner_id": "then_owner_id",
    "team_id": "then_team_id",
}


# filters a report does not use: left off its form; given to its CSV or JSON, a 400 naming them
# (the account reports have no lead source but the MQA's own)
UNUSED_FIELDS: Final[dict[str, set[str]]] = {
    "accounts-mqa": {"view"},
    "accounts-coverage": {"source", "view"},
    "accounts-pipeline": {"source", "view"},
    # credits are kept per outcome day and channel tags, not per owner or team
    "attribution": {"source", "owner", "team", "industry", "view"},
    # open deals now: the lead's owner, team and source today
    "pipeline": {"view"},
    "roi": {"source", "owner", "team", "industry", "view"},
    # customers now: the lead's owner, team and source today
    "ltv": {"view"},
}


@dataclass(frozen=True)
class ReportFilters:
    """Validated filters. ``start``/``end`` bound a half-open period [start, end)."""

    start: datetime | None = None
    end: datetime | None = None
    source: str = ""
    owner_id: int | None = None
    team_id: int | None = None
    industry: str = ""
    on: datetime | None = None  # point-in-time: the end of this day
    cohort_by: str = "month"
    sla_by: str = "policy"
    rejections_by: str = "source"
    exits_by: str = "reason"
    sources_by: str = "source"
    mqa_by: str = "month"
    view: str = THEN
    attribution_by: str = "channel"
    outcome: str = "customer"  # attribution: mql, sql, customer or revenue
    models: tuple[str, ...] = MODEL_NAMES  # attribution models, in the order shown
    pipeline_by: str = "age"
    ltv_by: str = "channel"

    def dim(self, name: str, then: Mapping[str, str] = MILESTONE_THEN, prefix: str = "") -> str:
        """The field holding the lead's ``name`` (source, owner_id, team_id) in this view: the
        model's own copy of it "then" if it keeps one, else the lead's through ``prefix``."""
        return then[name] if self.view == THEN and name in then else f"{prefix}{name}"

    def lead_q(self, prefix: str = "lead__", then: Mapping[str, str] | None = None) -> Q:
        """The lead-level filters as a Q on a model that reaches the lead through ``prefix``;
        ``then``: the fields where the model keeps the lead's values as they were then."""
        then = MILESTONE_THEN if then is None and prefix == "" else (then or {})
        q = Q()
        for name, value in (
            ("source", self.source or None),
            ("owner_id", self.owner_id),
            ("team_id", self.team_id),
        ):
            if value is not None:
                q &= Q(**{self.dim(name, then, prefix): value})
        return q & (Q(**{f"{prefix}industry": self.industry}) if self.industry else Q())

    def account_q(self, prefix: str = "account__") -> Q:
        """Owner, team and industry as a Q through ``prefix``: the account reports filter the
        account's current values (their source is the MQA's own, see ``reports.accounts``)."""
        q = Q()
        if self.owner_id is not None:
            q &= Q(**{f"{prefix}owner_id": self.owner_id})
        if self.team_id is not None:
            q &= Q(**{f"{prefix}team_id": self.team_id})
        if self.industry:
            q &= Q(**{f"{prefix}industry": self.industry})
        return q

    def period_q(self, field: str) -> Q:
        q = Q(**{f"{field}__isnull": False})
        if self.start is not None:
            q &= Q(**{f"{field}__gte": self.start})
        if self.end is not None:
            q &= Q(**{f"{field}__lt": self.end})
        return q

    def by_end(self, field: str) -> Q:
        """Reached by the end of the period (or ever, with no end)."""
        q = Q(**{f"{field}__isnull": False})
        return q & Q(**{f"{field}__lt": self.end}) if self.end is not None else q


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _date_input() -> forms.DateInput:
    """A browser date picker; its value is ISO (YYYY-MM-DD), what the API takes too."""
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class ModelsField(forms.MultipleChoiceField):
    """Attribution models: repeated (``models=first&models=linear``, the page's checkboxes) or
    comma-separated (``models=first,linear``); none means all six."""

    def to_python(self, value: Any) -> list[str]:
        names = [
            name.strip()
            for item in super().to_python(value)
            for name in item.split(",")
            if name.strip()
        ]
        return list(dict.fromkeys(names))

    def validate(self, value: Any) -> None:
        unknown = [name for name in value if name not in MODELS]
        if unknown:
            raise forms.ValidationError(
                gettext("Unknown attribution model %(name)s; models: %(models)s.")
                % {"name": repr(unknown[0]), "models": ", ".join(MODEL_NAMES)},
                code="invalid_choice",
            )


class ReportFilterForm(forms.Form):
    date_from = forms.DateField(
        required=False, label=_("From"), help_text=_("inclusive"), widget=_date_input()
    )
    date_to = forms.DateField(
        required=False, label=_("To"), help_text=_("inclusive"), widget=_date_input()
    )
    source = forms.CharField(
        required=False,
        label=_("Source"),
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": _("Any source")}),
    )
    # any user is a valid filter (the API's contract); the page lists only people who own leads
    owner = forms.ModelChoiceField(
        queryset=User.objects.order_by("username"),
        required=False,
        label=_("Owner"),
        empty_label=_("Any owner"),
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"),
        required=False,
        label=_("Team"),
        empty_label=_("Any team"),
    )
    industry = forms.CharField(
        required=False,
        label=_("Industry"),
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": _("Any industry")}),
    )
    on = forms.DateField(
        required=False,
        label=_("On"),
        help_text=_("Point in time: end of this day"),
        widget=_date_input(),
    )
    cohort_by = forms.ChoiceField(
        choices=GROUPINGS["cohort_by"], required=False, label=_("Cohort by")
    )
    # Translators: the SLA report's grouping choice (by policy, team or rep); SLA: service level.
    sla_by = forms.ChoiceField(choices=GROUPINGS["sla_by"], required=False, label=_("Sla by"))
    rejections_by = forms.ChoiceField(
        choices=GROUPINGS["rejections_by"], required=False, label=_("Rejections by")
    )
    exits_by = forms.ChoiceField(choices=GROUPINGS["exits_by"], required=False, label=_("Exits by"))
    sources_by = forms.ChoiceField(
        choices=GROUPINGS["sources_by"], required=False, label=_("Sources by")
    )
    # Translators: the account MQA report's grouping choice (MQA: marketing qualified account)
    mqa_by = forms.ChoiceField(choices=GROUPINGS["mqa_by"], required=False, label=_("MQAs by"))
    attribution_by = forms.ChoiceField(
        choices=GROUPINGS["attribution_by"], required=False, label=_("Attribute to")
    )
    outcome = forms.ChoiceField(
        choices=ATTRIBUTION_OUTCOMES, required=False, label=_("Outcome"), initial="customer"
    )
    models = ModelsField(
        choices=list(MODELS.items()),
        required=False,
        label=_("Models"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: all six."),
    )
    pipeline_by = forms.ChoiceField(
        choices=GROUPINGS["pipeline_by"], required=False, label=_("Pipeline by")
    )
    ltv_by = forms.ChoiceField(
        choices=GROUPINGS["ltv_by"], required=False, label=_("Lifetime value by")
    )
    view = forms.ChoiceField(
        choices=VIEWS,
        required=False,
        label=_("Owner, team and source"),
        help_text=_("Then: as recorded when each lead moved. Now: the lead's values today."),
    )

    def __init__(self, *args: Any, user: Any = None, slug: str = "", **kwargs: Any) -> None:
        """``user``: the custom fields the sources report may group by are those they see.
        ``slug``: the report the filters are for (CSV, JSON): one it does not use is an error."""
        super().__init__(*args, **kwargs)
        self.slug = slug
        fields = (
            customfields.visible_fields(user)
            if user is not None
            else customfields.lead_fields().values()
        )
        grouping = self.fields["sources_by"]
        assert isinstance(grouping, forms.ChoiceField)  # noqa: S101  (declared below)
        grouping.choices = [
            *GROUPINGS["sources_by"],
            *((f"{CUSTOM}{f.key}", f.label) for f in fields if f.type in customfields.GROUPABLE),
        ]

    def show_lead_owners_only(self) -> None:
        """For the page: the owner select offers the people who own leads (plus the one chosen),
        not every account (integrations, marketers, admins)."""
        chosen = self.data.get("owner") if self.is_bound else None
        owners = User.objects.filter(
            Q(pk__in=Lead.objects.filter(owner__isnull=False).values("owner_id"))
            | Q(pk=chosen if chosen and str(chosen).isdigit() else None)
        ).order_by("username")
        self.fields["owner"].widget.choices = [("", gettext("Any owner"))] + [
            (u.pk, str(u)) for u in owners
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in sorted(UNUSED_FIELDS.get(self.slug, ())):
            if data.get(name):
                self.add_error(
                    name,
                    gettext("The report %(slug)s cannot be narrowed by %(field)s; leave it out.")
                    % {"slug": self.slug, "field": name},
                )
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error(
                "date_to", gettext("The end of the period must not be before its start.")
            )
        return data

    def filters(self) -> ReportFilters:
        """The validated filters (call after ``is_valid()``)."""
        d = self.cleaned_data
        on = d.get("on") or timezone.localdate()
        return ReportFilters(
            start=_day_start(d["date_from"]) if d.get("date_from") else None,
            end=_day_start(d["date_to"] + timedelta(days=1)) if d.get("date_to") else None,
            source=(d.get("source") or "").strip(),
            owner_id=d["owner"].pk if d.get("owner") else None,
            team_id=d["team"].pk if d.get("team") else None,
            industry=(d.get("industry") or "").strip(),
            on=_day_start(on + timedelta(days=1)),
            cohort_by=d.get("cohort_by") or "month",
            sla_by=d.get("sla_by") or "policy",
            rejections_by=d.get("rejections_by") or "source",
            exits_by=d.get("exits_by") or "reason",
            sources_by=d.get("sources_by") or "source",
            mqa_by=d.get("mqa_by") or "month",
            view=d.get("view") or THEN,
            attribution_by=d.get("attribution_by") or "channel",
            outcome=d.get("outcome") or "customer",
            models=tuple(d.get("models") or MODEL_NAMES),
            pipeline_by=d.get("pipeline_by") or "age",
            ltv_by=d.get("ltv_by") or "channel",
        )
