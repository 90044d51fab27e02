"""Input shapes of the handover pages."""

from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from handover.models import QualificationFramework, RejectionReason


class RejectForm(forms.Form):
    reason = forms.ModelChoiceField(
        queryset=RejectionReason.objects.filter(active=True).order_by("position", "label"),
        to_field_name="code",
        label=_("Reason"),
        empty_label=_("Choose a reason…"),
        error_messages={"required": _("Choose why you reject this lead.")},
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        reason = data.get("reason")
        if reason is not None and reason.requires_comment and not data.get("comment", "").strip():
            self.add_error(
                "comment",
                gettext("The reason “%(reason)s” needs a comment.") % {"reason": reason.label},
            )
        return data


def checklist_answers(framework: QualificationFramework, data: Any) -> dict[str, Any]:
    """Read the qualify form (``met_<key>`` checkboxes, ``note_<key>`` texts) into answers."""
    return {
        c["key"]: {
            "met": data.get(f"met_{c['key']}") == "on",
            "note": str(data.get(f"note_{c['key']}", ""))[:2000],
        }
        for c in framework.criteria
    }
