"""Input shapes of the browser pages (the API has its serializers)."""

from django import forms

from leads.lifecycle import Stage


class MoveForm(forms.Form):
    to = forms.ChoiceField(choices=Stage.choices, label="Move to")
    reason = forms.CharField(max_length=500, required=False, label="Reason")
    # what the page showed: a lead moved by someone else since is a conflict, not a surprise
    expected_stage = forms.ChoiceField(choices=Stage.choices, widget=forms.HiddenInput)
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
