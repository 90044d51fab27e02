"""Input shapes of the marketer's capture pages. Rules (origins, traits, the live form's email
field, consent versions) are capture.editing's and come back as field errors."""

from django import forms
from django.utils.translation import gettext_lazy as _

from capture.editing import FORM_ACTIVITY_KINDS, FieldSpec, FormSettings
from capture.models import FieldKind, Form, HiddenSource, IpStorage, Rejection
from leads.models import ActivityKind
from privacy.models import Channel


class FormSettingsForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    status = forms.ChoiceField(
        label=_("Status"),
        choices=Form.Status.choices,
        initial=Form.Status.DRAFT,
        help_text=_("Only a live form accepts submissions. A live form needs an email field."),
    )
    allowed_origins = forms.CharField(
        label=_("Allowed origins"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "The sites that may show and send this form, one per line, e.g. "
            "https://www.example.com (scheme://host[:port], no path)."
        ),
    )
    submit_label = forms.CharField(label=_("Submit button"), max_length=60, required=False)
    thank_you_message = forms.CharField(
        label=_("Thank-you message"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    redirect_url = forms.CharField(
        label=_("Redirect after submitting"),
        max_length=200,
        required=False,
        help_text=_("An http(s) address; instead of the thank-you message."),
    )
    activity_kind = forms.ChoiceField(
        label=_("Scores as"),
        choices=[(k.value, k.label) for k in ActivityKind if k in FORM_ACTIVITY_KINDS],
        initial=ActivityKind.FORM_SUBMIT,
        help_text=_("The activity a submission adds to the lead's timeline; scoring rules use it."),
    )
    double_opt_in = forms.BooleanField(
        label=_("Double opt-in"),
        required=False,
        help_text=_(
            "Consent counts only after the visitor clicks the link in a confirmation e-mail."
        ),
    )
    progressive_slots = forms.IntegerField(
        label=_("Progressive fields shown"),
        min_value=0,
        max_value=10,
        initial=0,
        help_text=_("How many not yet answered progressive fields a visitor is asked; 0 = off."),
    )
    min_fill_seconds = forms.IntegerField(
        label=_("Minimum fill time (s)"),
        min_value=0,
        max_value=600,
        initial=3,
        help_text=_("Faster submissions are refused as spam."),
    )
    accepts_plain_posts = forms.BooleanField(
        label=_("Accept plain HTML posts"),
        required=False,
        help_text=_(
            "Off: a post from the plain HTML embed is shown again on LeadFlow's page, filled in, "
            "and counts when the visitor sends it from there. On: it counts at once, defended "
            "only by the honeypot, the allowed origins and the rate limits."
        ),
    )
    ip_storage = forms.ChoiceField(
        label=_("IP address in consent records"),
        choices=IpStorage.choices,
        initial=IpStorage.TRUNCATED,
    )

    def settings(self) -> FormSettings:
        return FormSettings(**self.cleaned_data)

    @staticmethod
    def initial_of(form: Form) -> dict[str, object]:
        return {k: getattr(form, k) for k in FormSettings.__dataclass_fields__}


class NewFormForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    allowed_origins = FormSettingsForm.base_fields["allowed_origins"]


class FieldForm(forms.Form):
    trait = forms.CharField(
        label=_("Trait"),
        max_length=64,
        help_text=_(
            "The lead field or trait the answer fills: email, firstName, lastName, company, "
            "title, phone, or any trait name (letters, digits, _)."
        ),
    )
    kind = forms.ChoiceField(label=_("Type"), choices=FieldKind.choices, initial=FieldKind.TEXT)
    label = forms.CharField(label=_("Label"), max_length=200)
    help_text = forms.CharField(label=_("Help text"), max_length=300, required=False)
    required = forms.BooleanField(label=_("Required"), required=False)
    choices = forms.CharField(
        label=_("Choices"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For a choice field: one per line."),
    )
    hidden_source = forms.ChoiceField(
        label=_("Hidden value from"),
        choices=[("", "—"), *HiddenSource.choices],
        required=False,
        help_text=_("For a hidden field: where the page's value comes from."),
    )
    fixed_value = forms.CharField(
        label=_("Fixed value"),
        max_length=200,
        required=False,
        help_text=_("For a hidden field with a fixed value, e.g. a campaign name."),
    )
    progressive = forms.BooleanField(
        label=_("Progressive"),
        required=False,
        help_text=_("Asked only until the visitor has answered it (see the form's settings)."),
    )

    def spec(self) -> FieldSpec:
        return FieldSpec(**self.cleaned_data)


class ConsentForm(forms.Form):
    key = forms.SlugField(
        label=_("Key"),
        max_length=40,
        help_text=_("A short name that stays the same across versions, e.g. newsletter."),
    )
    text = forms.CharField(
        label=_("Text"),
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Exactly what the visitor agrees to. A change makes a new version."),
    )
    channel = forms.ChoiceField(
        label=_("Opens the channel"),
        choices=[("", _("none (e.g. terms)")), *Channel.choices],
        required=False,
    )
    required = forms.BooleanField(
        label=_("Required to submit"),
        required=False,
        help_text=_(
            "Only for terms the form cannot be sent without; marketing consent is optional."
        ),
    )


class ConsentChangeForm(ConsentForm):
    """The key is fixed by the URL."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        del self.fields["key"]


class RejectionFilterForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=[("", _("All reasons")), *Rejection.Reason.choices],
        required=False,
    )
