"""Reads behind the embeds (script tag and iframe): which fields a visitor sees, the config JSON.

Kept apart from ``capture/selectors.py`` (capture-core's) so both can be written side by side;
``visible_fields`` calls core's ``fields_for_visitor`` once it exists.
"""

from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest
from django.templatetags.static import static
from django.utils.translation import gettext

from capture import challenge
from capture.models import ConsentText, FieldKind, Form, FormField

HONEYPOT = "lf_website"


def live_form(public_id: str) -> Form | None:
    """The form a visitor may see: only a LIVE one; draft, archived and unknown look the same."""
    return Form.objects.filter(public_id=public_id, status=Form.Status.LIVE).first()


def visible_fields(form: Form, anonymous_id: str) -> list[FormField]:
    """The fields this visitor is asked (progressive profiling applied)."""
    try:
        from capture.selectors import (  # type: ignore[import-not-found,unused-ignore]
            fields_for_visitor,  # capture-core's, merged separately
        )
    except ImportError:
        return _fields_without_profile(form)
    return list(fields_for_visitor(form, anonymous_id))


def _fields_without_profile(form: Form) -> list[FormField]:
    # TODO(lead): remove once capture.selectors.fields_for_visitor is merged. Treats everyone
    # as an unknown visitor: every fixed field, then the first progressive_slots progressive ones.
    shown: list[FormField] = []
    slots = form.progressive_slots
    for field in form.fields.order_by("position", "id"):
        if not field.progressive:
            shown.append(field)
        elif slots > 0:
            shown.append(field)
            slots -= 1
    return shown


def current_consents(form: Form) -> list[ConsentText]:
    return list(form.consent_texts.filter(retired=False).order_by("position", "key"))


def texts() -> dict[str, str]:
    """The embed script's own words, in the language of this request (it has no catalog)."""
    return {
        "required": gettext("This field is required."),
        "required_marker": gettext("required"),
        "invalid_email": gettext("Enter a valid e-mail address."),
        "invalid": gettext("Please check this field."),
        "choose": gettext("Choose…"),
        "sending": gettext("Sending…"),
        "error": gettext("Your answers could not be sent. Please try again."),
        "network": gettext("No connection to the server. Your answers are kept: please try again."),
        "rate_limited": gettext("Too many attempts. Please wait a minute and try again."),
        "refused": gettext("This form cannot be sent from this page."),
        "fix_errors": gettext("Please correct the marked fields."),
        "thank_you": gettext("Thank you! We have received your answers."),
        "unavailable": gettext("This form is not available."),
    }


def field_json(field: FormField) -> dict[str, Any]:
    return {
        "name": field.trait,
        "kind": field.kind,
        "label": field.label,
        "help_text": field.help_text,
        "required": field.required and field.kind != FieldKind.HIDDEN,
        "choices": field.choice_list(),
        "hidden_source": field.hidden_source,
        "fixed_value": field.fixed_value,
    }


def form_config(*, request: HttpRequest, form: Form, anonymous_id: str) -> dict[str, Any]:
    """The config JSON of the contract (docs/capture.md), plus ``assets`` (the stylesheet)."""
    fields: Sequence[FormField] = visible_fields(form, anonymous_id)
    return {
        "form": {
            "id": form.public_id,
            "name": form.name,
            "submit_label": form.submit_label or gettext("Send"),
            "thank_you_message": form.thank_you_message,
            "redirect_url": form.redirect_url,
        },
        "fields": [field_json(f) for f in fields],
        "consents": [
            {"key": c.key, "version": c.version, "text": c.text, "required": c.required}
            for c in current_consents(form)
        ],
        "honeypot": HONEYPOT,
        "challenge": challenge.issue(form.public_id),
        "texts": texts(),
        # the hashed name under the manifest storage: cached for ever, never stale
        "assets": {"stylesheet": request.build_absolute_uri(static("capture/embed.css"))},
    }
