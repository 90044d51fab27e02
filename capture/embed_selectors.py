"""Reads behind the embeds (script tag and iframe): which fields a visitor sees, the config JSON.

Progressive profiling itself is ``capture.selectors.fields_for_visitor`` (the submit path asks
it too, so what is shown and what is required agree).
"""

from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest
from django.templatetags.static import static
from django.utils.translation import gettext

from capture import challenge
from capture.models import FieldKind, Form, FormField
from capture.selectors import current_consents, fields_for_visitor

HONEYPOT = "lf_website"


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
    fields: Sequence[FormField] = fields_for_visitor(form, anonymous_id)
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
