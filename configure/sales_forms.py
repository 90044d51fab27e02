"""Input shapes of the sales Settings pages. Model forms: the model's own validation (``clean``,
field validators, constraints) runs on every save, exactly as in the Django admin."""

from datetime import date
from typing import Any

from django import forms
from django.forms import inlineformset_factory
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from attribution.models import ChannelRule, Spend
from attribution.spend import spend_month
from handover.models import (
    AssignmentMember,
    AssignmentRule,
    BusinessCalendarConfig,
    OutOfOffice,
    QualificationFramework,
    RejectionReason,
    RepProfile,
    SlaPolicy,
)
from leadflow.models import User
from leadflow.roles import ROLE_LABELS, Role
from leads.ingest import RESERVED_TRAITS
from leads.models import CustomField, ExchangeRate, ExitReason, Tag, Team, TraitMapping
from leads.tags import clean_tag_name


def _people() -> Any:
    return User.objects.filter(is_active=True).order_by("first_name", "last_name", "username")


class ListField(forms.CharField):
    """A list of strings typed one per line (or separated by ``sep``); stored as a JSON list."""

    def __init__(self, *, sep: str = "\n", **kwargs: Any) -> None:
        self.sep = sep
        kwargs.setdefault("required", False)
        if sep == "\n":
            kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4}))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ("\n" if self.sep == "\n" else f"{self.sep} ").join(map(str, value))
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [part.strip() for part in text.split(self.sep) if part.strip()]


class ConfigForm(forms.ModelForm[Any]):
    """Model validation only once the fields parse: a model's ``clean`` may compare fields
    (warning before deadline, minimum within the criteria) and needs them all present."""

    def _post_clean(self) -> None:
        if not self.errors:
            super()._post_clean()  # type: ignore[misc]  # (private hook, not in the stubs)


class SlaPolicyForm(ConfigForm):
    class Meta:
        model = SlaPolicy
        fields = (
            "name",
            "stage",
            "calendar",
            "target_minutes",
            "warn_before_minutes",
            "escalation",
            "active",
        )
        widgets = {"escalation": forms.Textarea(attrs={"rows": 5})}


class CalendarForm(ConfigForm):
    holidays = ListField(
        label=_("Holidays"),
        help_text=_("One date a line, e.g. 2026-12-25. No working minutes are counted on these."),
    )

    class Meta:
        model = BusinessCalendarConfig
        fields = ("name", "time_zone", "working_hours", "holidays")
        widgets = {"working_hours": forms.Textarea(attrs={"rows": 6})}
        help_texts = {"time_zone": _("An IANA time zone, e.g. Europe/Berlin.")}


class AssignmentRuleForm(ConfigForm):
    countries = ListField(
        sep=",", label=_("Countries"), help_text=_("ISO codes, e.g. DE, AT (empty: any)")
    )
    industries = ListField(
        sep=",", label=_("Industries"), help_text=_("Comma-separated (empty: any)")
    )
    company_sizes = ListField(
        sep=",", label=_("Company sizes"), help_text=_("e.g. 51-200, 201-1000 (empty: any)")
    )

    class Meta:
        model = AssignmentRule
        fields = (
            "name",
            "position",
            "active",
            "countries",
            "industries",
            "company_sizes",
            "team",
            "capacity",
            "capacity_period",
            "require_working_hours",
            "account_owner_first",
            "fallback_owner",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["fallback_owner"].queryset = _people()  # type: ignore[attr-defined]


class MemberForm(forms.ModelForm[AssignmentMember]):
    class Meta:
        model = AssignmentMember
        fields = ("user", "weight", "active")
        labels = {"active": _("In rotation")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = _people()  # type: ignore[attr-defined]


MemberFormSet = inlineformset_factory(
    AssignmentRule, AssignmentMember, form=MemberForm, extra=2, can_delete=True
)


class RejectionReasonForm(ConfigForm):
    class Meta:
        model = RejectionReason
        fields = RejectionReason.SETTINGS_FIELDS


class ExitReasonForm(ConfigForm):
    class Meta:
        model = ExitReason
        fields = ExitReason.SETTINGS_FIELDS


class ChannelRuleForm(ConfigForm):
    class Meta:
        model = ChannelRule
        fields = (
            "position", "channel", "source_pattern", "medium_pattern", "campaign_pattern", "active",
        )  # fmt: skip


class SpendForm(ConfigForm):
    month = forms.CharField(label=_("Month"), help_text=_("YYYY-MM, e.g. 2026-03."), max_length=10)

    class Meta:
        model = Spend
        fields = ("month", "source", "medium", "campaign", "amount", "currency")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["month"] = f"{self.instance.month:%Y-%m}"

    def clean_month(self) -> date:
        return spend_month(self.cleaned_data["month"])


class ExchangeRateForm(ConfigForm):
    class Meta:
        model = ExchangeRate
        fields = ("currency", "rate")

    def clean_currency(self) -> str:
        return str(self.cleaned_data["currency"]).strip().upper()


class FrameworkForm(ConfigForm):
    required = ListField(
        sep=",",
        label=_("Required criteria"),
        help_text=_("Criterion keys that must be met, e.g. budget"),
    )

    class Meta:
        model = QualificationFramework
        fields = ("code", "name", "criteria", "min_met", "required", "active", "is_default")
        widgets = {"criteria": forms.Textarea(attrs={"rows": 8})}
        help_texts = {
            "criteria": _(
                # Translators: keep the JSON keys ("key", "label", "help") as they are.
                'A JSON list: [{"key": "budget", "label": "Budget", "help": "…"}, …]'
            )
        }


class RepProfileForm(ConfigForm):
    class Meta:
        model = RepProfile
        fields = ("user", "calendar", "accepts_leads")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = _people()  # type: ignore[attr-defined]


class OutOfOfficeForm(ConfigForm):
    class Meta:
        model = OutOfOffice
        fields = ("user", "starts_at", "ends_at", "note")
        widgets = {
            "starts_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
            "ends_at": forms.DateTimeInput(attrs={"type": "datetime-local"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = _people()  # type: ignore[attr-defined]


class TeamForm(ConfigForm):
    class Meta:
        model = Team
        fields = ("name", "manager", "members")
        widgets = {"members": forms.CheckboxSelectMultiple}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["manager"].queryset = _people()  # type: ignore[attr-defined]
        self.fields["members"].queryset = _people()  # type: ignore[attr-defined]


# --- users ---------------------------------------------------------------------------------------

ROLE_CHOICES = [(r.value, ROLE_LABELS[r]) for r in Role]


class UserEditForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    email = forms.EmailField(label=_("E-mail"), required=False)
    role = forms.ChoiceField(label=_("Role"), choices=ROLE_CHOICES)
    teams = forms.ModelMultipleChoiceField(
        label=_("Teams"),
        queryset=Team.objects.order_by("name"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class UserCreateForm(UserEditForm):
    username = forms.CharField(label=_("Username"), max_length=150)
    password1 = forms.CharField(
        label=_("Initial password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Tell the person this password; they log in with it."),
    )
    password2 = forms.CharField(
        label=_("Initial password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    field_order = ("username", "first_name", "last_name", "email", "role", "teams")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password1") and data.get("password1") != data.get("password2"):
            self.add_error("password2", gettext("The two passwords differ."))
        return data


class TagForm(ConfigForm):
    class Meta:
        model = Tag
        fields = ("name", "colour")

    def clean_name(self) -> str:
        return clean_tag_name(self.cleaned_data.get("name"), field="name")


class TraitMappingForm(ConfigForm):
    """A Segment identify trait -> the lead's custom field its value goes to (checked as the
    field's type at ingestion). Only custom fields are targets: traits that fill lead columns
    (e-mail, names, phone, company, ...) keep doing so."""

    class Meta:
        model = TraitMapping
        fields = ("trait", "field")
        labels = {"trait": _("Trait"), "field": _("Custom field")}
        help_texts = {
            "trait": _(
                "The trait's name as identify calls send it, e.g. employees or erpSystem "
                "(case matters)."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        targets = CustomField.objects.filter(entity=CustomField.Entity.LEAD)
        self.fields["field"].queryset = targets  # type: ignore[attr-defined]
        self.fields["field"].label_from_instance = (  # type: ignore[attr-defined]
            lambda f: f"{f.label} ({f.key}, {f.get_type_display()})"
        )

    def clean_trait(self) -> str:
        trait = str(self.cleaned_data.get("trait") or "").strip()
        if not trait:
            raise forms.ValidationError(gettext("Name the trait."))
        if "\x00" in trait:
            raise forms.ValidationError(gettext("Null characters are not allowed."))
        if trait in RESERVED_TRAITS:
            raise forms.ValidationError(
                gettext("The trait %(trait)s fills a lead field of its own; map another trait.")
                % {"trait": repr(trait)}
            )
        return trait
