"""Input shapes of the browser pages (the API has its serializers)."""

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from leads import interactions
from leads.lifecycle import Stage
from leads.models import CompanySize, CustomField, FieldType, Seniority


class MoveForm(forms.Form):
    to = forms.ChoiceField(choices=Stage.choices, label=_("Move to"))
    reason = forms.CharField(max_length=500, required=False, label=_("Reason"))
    reason_code = forms.CharField(max_length=50, required=False, label=_("Exit reason"))
    # what the page showed: a lead moved by someone else since is a conflict, not a surprise
    expected_stage = forms.ChoiceField(
        choices=Stage.choices, required=False, widget=forms.HiddenInput
    )
    expected_changed_at = forms.DateTimeField(required=False, widget=forms.HiddenInput)


class NoteForm(forms.Form):
    body = forms.CharField(
        label=_("Note"), max_length=10_000, widget=forms.Textarea(attrs={"rows": 3})
    )


class TaskForm(forms.Form):
    title = forms.CharField(label=_("Task"), max_length=200)
    due_at = forms.DateTimeField(
        label=_("Due"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )


class SavedViewForm(forms.Form):
    view_name = forms.CharField(label=_("Save these filters as"), max_length=80)
    query = forms.CharField(required=False, max_length=1000, widget=forms.HiddenInput)


class LeadCreateForm(forms.Form):
    """The browser's "New lead": the contact and fit fields a person types in. The service
    (``lead_upsert``) validates them against the model and names any bad field."""

    first_name = forms.CharField(label=_("First name"), max_length=100, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=100, required=False)
    email = forms.EmailField(label=_("E-mail"), max_length=254)
    phone = forms.CharField(label=_("Phone"), max_length=40, required=False)
    job_title = forms.CharField(label=_("Job title"), max_length=150, required=False)
    seniority = forms.ChoiceField(
        label=_("Seniority"), choices=[("", "—"), *Seniority.choices], required=False
    )
    company = forms.CharField(label=_("Company"), max_length=200, required=False)
    industry = forms.CharField(label=_("Industry"), max_length=100, required=False)
    company_size = forms.ChoiceField(
        label=_("Company size"), choices=[("", "—"), *CompanySize.choices], required=False
    )
    country = forms.CharField(
        label=_("Country"), max_length=2, required=False, help_text=_("Two letters, e.g. DE")
    )
    source = forms.CharField(
        label=_("Source"), max_length=100, required=False, help_text=_("e.g. event, referral")
    )


class InteractionForm(forms.Form):
    """Log a call, meeting or e-mail. The field rules live in ``leads.interactions`` (shared with
    the service and the API); this form only reads the browser's strings."""

    kind = forms.ChoiceField(
        label=_("What"),
        choices=[(k.value, interactions.SHORT_LABELS[k]) for k in interactions.LOGGED_KINDS],
    )
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[
            (interactions.SHORT_LABELS[kind], list(outcomes))
            for kind, outcomes in interactions.OUTCOMES.items()
        ],
    )
    duration_minutes = forms.IntegerField(
        label=_("Minutes"), required=False, help_text=_("Calls and meetings")
    )
    occurred_at = forms.DateTimeField(
        label=_("When"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    notes = forms.CharField(
        label=_("Notes"),
        required=False,
        max_length=interactions.MAX_NOTES,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "kind" not in data:  # the outcome list depends on it
            return data
        errors = interactions.interaction_errors(
            kind=data["kind"],
            outcome=data.get("outcome"),
            duration_minutes=data.get("duration_minutes"),
            occurred_at=data.get("occurred_at"),
            notes=data.get("notes", ""),
            now=timezone.now(),
        )
        for field, message in errors.items():
            if field not in self.errors:  # the field's own error (not a number, ...) first
                self.add_error(field, message)
        return data


# --- custom fields: browser inputs per type; the values are checked by leads.customfields -----

_YES_NO = [("", "—"), ("true", _("Yes")), ("false", _("No"))]


def custom_form_field(field: CustomField, *, initial: Any = None) -> forms.Field:
    """A browser input for ``field``; it passes strings on (leads.customfields checks them)."""
    common: dict[str, Any] = {
        "label": field.label,
        "required": False,  # the service says "required" (and names the field) in one place
        "help_text": field.help_text,
        "initial": _initial(field, initial),
    }
    kind = field.type
    if kind == FieldType.CHOICE:
        choices = [("", "—"), *((c["value"], c["label"]) for c in field.choices)]
        return forms.ChoiceField(choices=choices, **common)
    if kind == FieldType.MULTI_CHOICE:
        choices = [(c["value"], c["label"]) for c in field.choices]
        return forms.MultipleChoiceField(
            choices=choices, widget=forms.CheckboxSelectMultiple, **common
        )
    if kind == FieldType.BOOLEAN:
        return forms.ChoiceField(choices=_YES_NO, **common)
    if kind == FieldType.USER:
        users = get_user_model().objects.filter(is_active=True).order_by("first_name", "username")
        choices = [("", "—"), *((str(u.pk), str(u)) for u in users)]
        return forms.ChoiceField(choices=choices, **common)
    widgets: dict[str, forms.Widget] = {
        FieldType.LONG_TEXT: forms.Textarea(attrs={"rows": 3}),
        FieldType.INTEGER: forms.NumberInput(attrs={"step": "1"}),
        FieldType.DECIMAL: forms.NumberInput(attrs={"step": "any"}),
        FieldType.MONEY: forms.NumberInput(attrs={"step": "0.01"}),
        FieldType.DATE: forms.DateInput(attrs={"type": "date"}),
        FieldType.DATETIME: forms.DateTimeInput(attrs={"type": "datetime-local"}),
        FieldType.URL: forms.URLInput(),
        FieldType.EMAIL: forms.EmailInput(),
    }
    if kind == FieldType.MONEY:
        common["label"] = f"{field.label} ({field.currency})"
    return forms.CharField(widget=widgets.get(kind, forms.TextInput()), strip=False, **common)


def _initial(field: CustomField, value: Any) -> Any:
    if value is None:
        return None
    if field.type == FieldType.BOOLEAN:
        return "true" if value else "false"
    if field.type == FieldType.DATETIME:  # the input shows local time, without seconds
        moment = parse_datetime(str(value))
        return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M") if moment else value
    return value


def custom_field_name(key: str) -> str:
    return f"cf_{key}"


def add_custom_fields(
    form: forms.Form, fields: list[CustomField], values: dict[str, Any] | None = None
) -> None:
    for field in fields:
        form.fields[custom_field_name(field.key)] = custom_form_field(
            field, initial=(values or {}).get(field.key)
        )


def custom_values(form: forms.Form, fields: list[CustomField]) -> dict[str, Any]:
    """The custom part of a submitted form: {key: the browser's value}."""
    return {f.key: form.cleaned_data.get(custom_field_name(f.key)) for f in fields}


def custom_errors(form: forms.Form, exc: ValidationError) -> None:
    """The service's ``custom.<key>`` errors onto the form's ``cf_<key>`` inputs."""
    for name, errors in exc.message_dict.items():
        target = (
            custom_field_name(name.removeprefix("custom.")) if name.startswith("custom.") else name
        )
        form.add_error(target if target in form.fields else None, errors)


class CustomValuesForm(forms.Form):
    """The lead page's "Details" edit: the custom fields this person may change."""

    def __init__(self, *args: Any, fields: list[CustomField], values: dict[str, Any], **kw: Any):
        super().__init__(*args, **kw)
        add_custom_fields(self, fields, values)


class DealForm(forms.Form):
    """The lead page's "Deal": the expected value while open, the won value once a Customer,
    and the currency of both (checked again by ``lead_deal_set``)."""

    expected_value = forms.DecimalField(
        label=_("Expected value"), required=False, min_value=0, max_digits=14, decimal_places=2
    )
    deal_value = forms.DecimalField(
        label=_("Won value"), required=False, min_value=0, max_digits=14, decimal_places=2
    )
    currency = forms.ChoiceField(label=_("Currency"), required=False)

    def __init__(self, *args: Any, currencies: list[str], won: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        currency = self.fields["currency"]
        assert isinstance(currency, forms.ChoiceField)  # noqa: S101  (declared above)
        currency.choices = [(c, c) for c in currencies]
        # an open deal has an expected value, a won one a won value: the other is not offered
        del self.fields["expected_value" if won else "deal_value"]


class WinForm(forms.Form):
    """The lead page's "Record a repeat win" (checked again by ``lead_win_add``)."""

    value = forms.DecimalField(label=_("Value"), min_value=0, max_digits=14, decimal_places=2)
    currency = forms.ChoiceField(label=_("Currency"), required=False)
    won_at = forms.DateField(
        label=_("Won on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=200)

    def __init__(self, *args: Any, currencies: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        currency = self.fields["currency"]
        assert isinstance(currency, forms.ChoiceField)  # noqa: S101  (declared above)
        currency.choices = [(c, c) for c in currencies]
