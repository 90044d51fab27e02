"""Input shapes of Settings › Custom fields. The service (leads.customfield_services) checks the
definition; these forms only read the browser's strings."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from leadflow.roles import ROLE_LABELS, Role
from leads.models import CustomField, FieldType

_ROLES = [(r.value, ROLE_LABELS[r]) for r in Role if r not in (Role.ADMIN, Role.INTEGRATION)]
CHOICES_HELP = _(
    "One choice per line. To rename a choice keep its value and change the label after “=”, "
    "e.g. “sap = SAP S/4HANA”: leads keep their values."
)


def choices_text(choices: list[dict[str, str]]) -> str:
    return "\n".join(
        c["value"] if c["label"] == c["value"] else f"{c['value']} = {c['label']}" for c in choices
    )


def parse_choices(text: str) -> list[dict[str, str]]:
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        value, _eq, label = line.partition("=")
        out.append({"value": value.strip(), "label": (label or value).strip()})
    return out


def _roles_field(label: StrOrPromise, help_text: StrOrPromise) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=_ROLES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=label,
        help_text=help_text,
    )


class CustomFieldForm(forms.Form):
    label = forms.CharField(label=_("Label"), max_length=80)
    key = forms.CharField(
        label=_("Key"),
        max_length=40,
        help_text=_(
            "Used by the API, imports, filters and scoring rules; fixed once saved. "
            "Lower-case letters, digits and _."
        ),
    )
    type = forms.ChoiceField(label=_("Type"), choices=FieldType.choices)
    choices = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=CHOICES_HELP,
    )
    currency = forms.CharField(
        label=_("Currency"),
        required=False,
        max_length=3,
        help_text=_("Money fields: ISO code, e.g. EUR, HUF, DKK, CZK."),
    )
    required = forms.BooleanField(
        label=_("Required"),
        required=False,
        help_text=_("People, the REST API and imports must give it when they create a lead."),
    )
    default = forms.CharField(
        label=_("Default"), required=False, max_length=255, help_text=_("Value for new leads.")
    )
    help_text = forms.CharField(required=False, max_length=200, label=_("Help text"))
    visible_to = _roles_field(
        _("Who sees it"), _("None ticked: every role. Admins always see and edit every field.")
    )
    editable_by = _roles_field(
        _("Who edits it"), _("None ticked: everyone who sees it and may change the lead.")
    )
    position = forms.IntegerField(
        label=_("Position"), min_value=0, initial=0, help_text=_("Lower comes first.")
    )
    show_on_cards = forms.BooleanField(
        required=False, label=_("Show on board cards and in the list")
    )
    filterable = forms.BooleanField(
        required=False,
        label=_("Fast filter (index)"),
        help_text=_(
            # xgettext:no-python-format
            "Adds a database index so board filters on it stay fast with many leads; "
            "every write of a lead keeps it up to date (about +13 % on a score write at 1M leads)."
        ),
    )

    def __init__(self, *args: Any, instance: CustomField | None = None, **kwargs: Any) -> None:
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                **{name: getattr(instance, name) for name in self.base_fields},
                "choices": choices_text(instance.choices),
                "default": "" if instance.default is None else _text(instance.default),
            }
        super().__init__(*args, **kwargs)
        if instance is not None:  # key and type have their own paths (fixed; "Change type")
            for name in ("key", "type"):
                self.fields[name].disabled = True
                self.fields[name].required = False

    def service_data(self, *, creating: bool) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["choices"] = parse_choices(data["choices"])
        data["default"] = data["default"] or None
        data["visible_to"], data["editable_by"] = (
            list(data["visible_to"]),
            list(data["editable_by"]),
        )
        if not creating:
            data.pop("key")
            data.pop("type")
        return data


def _text(value: Any) -> str:
    return "; ".join(map(str, value)) if isinstance(value, list) else str(value)


class TypeChangeForm(forms.Form):
    to = forms.ChoiceField(choices=FieldType.choices, label=_("New type"))
    choices = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_(
            "For a choice type: One choice per line. To rename a choice keep its value and change "
            "the label after “=”, e.g. “sap = SAP S/4HANA”: leads keep their values."
        ),
    )
    currency = forms.CharField(
        label=_("Currency"), required=False, max_length=3, help_text=_("For money: e.g. EUR.")
    )
    expect_dropped = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=0)
