from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from leads.customfields import lead_fields
from privacy.importing import TARGETS, custom_targets
from privacy.models import DedupePolicy, SavedMapping


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_("A .csv file (UTF-8, UTF-16 or Windows-1252; , ; tab or |)"),
    )
    saved_mapping = forms.ModelChoiceField(
        queryset=SavedMapping.objects.order_by("name"),
        required=False,
        label=_("Saved mapping"),
        empty_label=_("No saved mapping"),
    )
    policy = forms.ChoiceField(
        label=_("Policy"), choices=DedupePolicy.choices, initial=DedupePolicy.SKIP
    )
    encoding = forms.CharField(
        label=_("Encoding"), required=False, max_length=30, help_text=_("empty = detect")
    )
    delimiter = forms.CharField(
        label=_("Delimiter"),
        required=False,
        max_length=1,
        strip=False,
        help_text=_("empty = detect"),
    )
    month_first = forms.BooleanField(
        label=_("Month first"), required=False, help_text=_("03/04/2026 is 4 March")
    )
    source = forms.CharField(label=_("Source"), required=False, max_length=100, initial="import")


class ImportMappingForm(forms.Form):
    """One select per CSV column (target field, a custom field ``custom.<key>`` or "ignore"), the
    policy and "save mapping as". The service checks the choice (an unknown custom field is a
    form error naming it)."""

    policy = forms.ChoiceField(label=_("Policy"), choices=DedupePolicy.choices)
    save_as = forms.CharField(required=False, max_length=100, label=_("Save this mapping as"))

    def __init__(self, *args: Any, header: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header = header
        choices = [
            ("", gettext("— ignore —")),
            *((t, t) for t in TARGETS),
            *custom_targets(lead_fields()),
        ]
        for index, column in enumerate(header):
            self.fields[f"map_{index}"] = forms.CharField(
                label=column, required=False, widget=forms.Select(choices=choices)
            )

    def mapping(self) -> dict[str, str]:
        return {
            column: self.cleaned_data[f"map_{index}"]
            for index, column in enumerate(self.header)
            if self.cleaned_data.get(f"map_{index}")
        }


# --- data-subject requests (GDPR page) ---------------------------------------------------------


def lookup_email(value: str) -> str:
    """An e-mail address to look a person up by, normalised as leads store it (lower case).

    Looser than ``EmailField`` on purpose: stored addresses came through imports and
    integrations, some with non-ASCII local parts ("zoe.garcía@…") that Django's validator (and
    a browser's type=email) refuse, and a person holding one must still be found and erased.
    Required: one "@" with text on both sides, no spaces or control characters, ≤ 254."""
    text = value.strip()
    local, at, domain = text.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain.strip(".")
        or len(text) > 254
        or any(ch.isspace() or ord(ch) < 32 or ch == "\x7f" for ch in text)
    ):
        raise forms.ValidationError(gettext("Enter an e-mail address such as name@example.com."))
    return text.lower()


class SubjectForm(forms.Form):
    email = forms.CharField(max_length=254, label=_("E-mail address"))

    def clean_email(self) -> str:
        return lookup_email(str(self.cleaned_data["email"]))


class SubjectExportForm(SubjectForm):
    lead = forms.IntegerField(min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput)


class SubjectEraseForm(SubjectForm):
    """Erasure is confirmed by typing the person's e-mail address again: a word like "ERASE"
    is typed from habit, the address makes the requester look at whom they erase."""

    leads = forms.CharField(max_length=2000, widget=forms.HiddenInput)
    confirm = forms.CharField(max_length=254, label=_("Type the e-mail address to confirm"))
    reason = forms.CharField(
        max_length=300, required=False, label=_("Reason (kept in the audit log)")
    )

    def clean_leads(self) -> list[int]:
        parts = [p.strip() for p in str(self.cleaned_data["leads"]).split(",") if p.strip()]
        if not parts or not all(p.isdigit() and len(p) < 19 for p in parts):
            raise forms.ValidationError(
                gettext("The leads reviewed are missing: look the person up again.")
            )
        return sorted({int(p) for p in parts})

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        email, typed = data.get("email"), data.get("confirm")
        if email and typed and typed.strip().lower() != email:
            self.add_error(
                "confirm",
                gettext("This is not %(email)s: type that address exactly. Nothing was erased.")
                % {"email": email},
            )
        return data
