"""Input shapes of the browser pages (the API has its serializers)."""

from django import forms

from leads.lifecycle import Stage
from leads.models import CompanySize, Seniority


class MoveForm(forms.Form):
    to = forms.ChoiceField(choices=Stage.choices, label="Move to")
    reason = forms.CharField(max_length=500, required=False, label="Reason")
    # what the page showed: a lead moved by someone else since is a conflict, not a surprise
    expected_stage = forms.ChoiceField(
        choices=Stage.choices, required=False, widget=forms.HiddenInput
    )
    expected_changed_at = forms.DateTimeField(required=False, widget=forms.HiddenInput)


class NoteForm(forms.Form):
    body = forms.CharField(
        label="Note", max_length=10_000, widget=forms.Textarea(attrs={"rows": 3})
    )


class TaskForm(forms.Form):
    title = forms.CharField(label="Task", max_length=200)
    due_at = forms.DateTimeField(
        label="Due",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )


class SavedViewForm(forms.Form):
    view_name = forms.CharField(label="Save these filters as", max_length=80)
    query = forms.CharField(required=False, max_length=1000, widget=forms.HiddenInput)


class LeadCreateForm(forms.Form):
    """The browser's "New lead": the contact and fit fields a person types in. The service
    (``lead_upsert``) validates them against the model and names any bad field."""

    first_name = forms.CharField(label="First name", max_length=100, required=False)
    last_name = forms.CharField(label="Last name", max_length=100, required=False)
    email = forms.EmailField(label="E-mail", max_length=254)
    phone = forms.CharField(label="Phone", max_length=40, required=False)
    job_title = forms.CharField(label="Job title", max_length=150, required=False)
    seniority = forms.ChoiceField(
        label="Seniority", choices=[("", "—"), *Seniority.choices], required=False
    )
    company = forms.CharField(label="Company", max_length=200, required=False)
    industry = forms.CharField(label="Industry", max_length=100, required=False)
    company_size = forms.ChoiceField(
        label="Company size", choices=[("", "—"), *CompanySize.choices], required=False
    )
    country = forms.CharField(
        label="Country", max_length=2, required=False, help_text="Two letters, e.g. DE"
    )
    source = forms.CharField(
        label="Source", max_length=100, required=False, help_text="e.g. event, referral"
    )
