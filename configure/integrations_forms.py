"""Forms of Settings › API keys and Settings › Webhooks. They check the shape of the input; the
rules (scopes a public key may hold, the SSRF guard) are the services' and come back as field
errors."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from handover.models import EventType
from leadflow.apikeys import SCOPE_HELP, Scope
from leadflow.models import ApiKey, User

EVENT_HELP: dict[str, StrOrPromise] = {
    EventType.LEAD_STAGE_CHANGED: _("any stage change of a lead"),
    EventType.LEAD_MQL: _("a lead became an MQL"),
    EventType.HANDOVER_ASSIGNED: _("a handover was opened or reassigned"),
    EventType.HANDOVER_ACCEPTED: _("a rep accepted a handover (MQL → SAL)"),
    EventType.HANDOVER_REJECTED: _("a rep rejected a handover"),
    EventType.SLA_WARNING: _("an SLA deadline is near"),
    EventType.SLA_BREACHED: _("an SLA deadline passed"),
    EventType.ACCOUNT_MQA: _("an account became marketing-qualified (MQA)"),
    EventType.ACCOUNT_MEMBER_ADDED: _("a lead joined an account"),
    EventType.ACCOUNT_HANDOVER_ACCEPTED: _("the owner accepted an MQA account"),
    EventType.ACCOUNT_HANDOVER_REJECTED: _("the owner rejected an MQA account"),
    EventType.ACCOUNT_SLA_BREACHED: _("an MQA account's SLA deadline passed"),
}


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("Who uses it, e.g. “crm-sync”.")
    )
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=ApiKey.Kind.choices,
        initial=ApiKey.Kind.SECRET,
        widget=forms.RadioSelect,
        help_text=_(
            "Public: a website's key, visible in page source; it only sends events "
            "(events:write) to /v1/*. Secret: a server's key."
        ),
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        # the scope's code, then what it allows (SCOPE_HELP, translated when shown)
        choices=[(s.value, format_lazy("{} — {}", s.value, SCOPE_HELP[s])) for s in Scope],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one scope.")},
    )
    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        label=_("Acts as"),
        empty_label=_("a new integration account api:<name>"),
        help_text=_("The account whose role bounds what the key may do; scopes narrow it further."),
    )
    allowed_origins = forms.CharField(
        label=_("Allowed origins"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Public keys: the sites whose pages may send with it, one per line, e.g. "
            "https://www.example.com. Browsers on other sites are refused."
        ),
    )
    tracking_consent_required = forms.BooleanField(
        label=_("Tracking needs the visitor's consent"),
        required=False,
        help_text=_(
            "Public keys: a page, track or identify from the browser is accepted only when it "
            "carries the visitor's consent (see the SDK guide)."
        ),
    )


class ApiKeyBrowserForm(forms.Form):
    """A public key's browser settings, changed after creation (Settings › API keys › Browser)."""

    allowed_origins = ApiKeyCreateForm.base_fields["allowed_origins"]
    tracking_consent_required = ApiKeyCreateForm.base_fields["tracking_consent_required"]


class WebhookForm(forms.Form):
    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        assume_scheme="https",
        help_text=_("A public http(s) address; private and loopback addresses are refused."),
    )
    description = forms.CharField(label=_("Description"), max_length=200, required=False)
    event_types = forms.MultipleChoiceField(
        label=_("Events"),
        choices=[(t.value, format_lazy("{} — {}", t.value, EVENT_HELP[t])) for t in EventType],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one event.")},
    )
    active = forms.BooleanField(
        label=_("Active"),
        required=False,
        initial=True,
        help_text=_("Unticked: no new deliveries are written for it until it is enabled again."),
    )


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """A service's ValidationError onto the form, per field where the form has the field."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def named_errors(form: forms.Form) -> list[str]:
    """Every error with the label of its field in front (the summary at the top of a form)."""
    out: list[str] = []
    for name, errors in form.errors.items():
        label = form[name].label if name in form.fields else ""
        out += [f"{label}: {e}" if label else str(e) for e in errors]
    return out
