"""The iframe embed's form, rendered by Django: one field per FormField, one box per consent."""

from typing import Any

from django import forms
from django.utils.translation import gettext

from capture.embed_selectors import HONEYPOT
from capture.models import ConsentText, FieldKind, FormField, HiddenSource

# answers longer than this are cut by the browser already (the submit endpoint checks again)
MAX_ANSWER = 2000


class TelInput(forms.TextInput):
    input_type = "tel"


class ConsentBox(forms.CheckboxInput):
    """A checkbox that sends the version of the text shown (``consent.<key>=<version>``)."""

    def __init__(self, version: int) -> None:
        super().__init__(attrs={"value": str(version), "class": "lf-check"})


def _form_field(field: FormField) -> forms.Field:
    common: dict[str, Any] = {
        "label": field.label,
        "help_text": field.help_text,
        "required": field.required,
    }
    kind = field.kind
    if kind == FieldKind.EMAIL:
        return forms.EmailField(
            max_length=254, widget=forms.EmailInput(attrs={"class": "lf-input"}), **common
        )
    if kind == FieldKind.TEL:
        return forms.CharField(
            max_length=60, widget=TelInput(attrs={"class": "lf-input"}), **common
        )
    if kind == FieldKind.TEXTAREA:
        return forms.CharField(
            max_length=MAX_ANSWER,
            widget=forms.Textarea(attrs={"class": "lf-input", "rows": 4}),
            **common,
        )
    if kind == FieldKind.SELECT:
        choices = [("", gettext("Choose…"))] + [(c, c) for c in field.choice_list()]
        return forms.ChoiceField(
            choices=choices, widget=forms.Select(attrs={"class": "lf-input"}), **common
        )
    if kind == FieldKind.CHECKBOX:
        return forms.BooleanField(widget=forms.CheckboxInput(attrs={"class": "lf-check"}), **common)
    if kind == FieldKind.HIDDEN:
        return forms.CharField(required=False, max_length=MAX_ANSWER, widget=forms.HiddenInput)
    return forms.CharField(
        max_length=MAX_ANSWER, widget=forms.TextInput(attrs={"class": "lf-input"}), **common
    )


def frame_form_class(fields: list[FormField], consents: list[ConsentText]) -> type[forms.Form]:
    """A Django form class for these fields and consent texts (the frame page, and capture-core's
    form-encoded error page can bind it to re-show the answers with per-field messages)."""
    attrs: dict[str, forms.Field] = {f.trait: _form_field(f) for f in fields}
    for consent in consents:
        attrs[f"consent.{consent.key}"] = forms.BooleanField(
            label=consent.text, required=consent.required, widget=ConsentBox(consent.version)
        )
    attrs[HONEYPOT] = forms.CharField(
        required=False,
        label=gettext("Leave this field empty"),
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )
    return type("FrameForm", (forms.Form,), attrs)


def hidden_initial(
    fields: list[FormField], *, params: dict[str, str], page_url: str, referrer: str
) -> dict[str, str]:
    """Hidden fields' values for the iframe: utm_* from the iframe's own URL (the snippet passes
    them on), the page from the Referer the host page sent, a fixed value as set."""
    initial: dict[str, str] = {}
    for field in fields:
        if field.kind != FieldKind.HIDDEN:
            continue
        source = field.hidden_source
        if source == HiddenSource.FIXED:
            initial[field.trait] = field.fixed_value
        elif source == HiddenSource.PAGE_URL:
            initial[field.trait] = params.get("page_url", page_url)
        elif source == HiddenSource.REFERRER:
            initial[field.trait] = params.get("referrer", referrer)
        elif source:
            initial[field.trait] = params.get(source, "")
    return {k: v[:MAX_ANSWER] for k, v in initial.items()}
