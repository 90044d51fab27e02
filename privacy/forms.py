from typing import Any

from django import forms

from privacy.importing import TARGETS
from privacy.models import DedupePolicy, SavedMapping


class ImportUploadForm(forms.Form):
    file = forms.FileField(help_text="A .csv file (UTF-8, UTF-16 or Windows-1252; , ; tab or |)")
    saved_mapping = forms.ModelChoiceField(
        queryset=SavedMapping.objects.order_by("name"),
        required=False,
        empty_label="No saved mapping",
    )
    policy = forms.ChoiceField(choices=DedupePolicy.choices, initial=DedupePolicy.SKIP)
    encoding = forms.CharField(required=False, max_length=30, help_text="empty = detect")
    delimiter = forms.CharField(
        required=False, max_length=1, strip=False, help_text="empty = detect"
    )
    month_first = forms.BooleanField(required=False, help_text="03/04/2026 is 4 March")
    source = forms.CharField(required=False, max_length=100, initial="import")


class ImportMappingForm(forms.Form):
    """One select per CSV column (target field or "ignore"), the policy and "save mapping as"."""

    policy = forms.ChoiceField(choices=DedupePolicy.choices)
    save_as = forms.CharField(required=False, max_length=100, label="Save this mapping as")

    def __init__(self, *args: Any, header: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header = header
        choices = [("", "— ignore —"), *((t, t) for t in TARGETS)]
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
