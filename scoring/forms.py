"""Forms of the rules editor. They turn what a marketer types into the data the services take;
the services stay the one place that validates rules (their errors are shown on these forms).

Text formats, chosen to be typed without JSON:
- conditions: one per line, ``property operator value`` (``url contains /pricing``;
  ``asset in ebook-1, ebook-2``; ``campaign exists``);
- decay steps: ``days:factor`` pairs separated by commas (``30:0.5, 90:0``);
- fit values: a comma-separated list, yes/no for ``is_empty`` and ``free_mail``, one number or
  a date (YYYY-MM-DD) for ``at_least`` and ``below``.
"""

import math
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.functional import lazy
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from leadflow.exceptions import DomainError
from leadflow.models import User
from leads.customfields import lead_fields
from leads.models import ActivityKind
from scoring import account_rules as ar
from scoring import rules as r
from scoring.models import DryRunLead, ScoringModel, ScoringRule

_FIT_KINDS = (ScoringRule.Kind.FIT, ScoringRule.Kind.ACCOUNT_FIT)  # field, op, value
_YES = {"yes", "true", "1", "y"}
_NO = {"no", "false", "0", "n"}

# How the editor names each fit operator (the codes are what is stored and what the API takes).
FIT_OP_LABELS: dict[str, Any] = {
    "at_least": pgettext_lazy("scoring fit operator", "at least"),
    "below": pgettext_lazy("scoring fit operator", "below"),
    "contains_any": pgettext_lazy("scoring fit operator", "contains any"),
    "free_mail": pgettext_lazy("scoring fit operator", "free mail"),
    "in": pgettext_lazy("scoring fit operator", "in"),
    "is_empty": pgettext_lazy("scoring fit operator", "is empty"),
    "not_in": pgettext_lazy("scoring fit operator", "not in"),
}


def conditions_to_text(conditions: list[dict[str, Any]]) -> str:
    lines = []
    for cond in conditions:
        value = cond.get("value")
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        lines.append(" ".join(str(x) for x in (cond["property"], cond["op"], shown) if x != ""))
    return "\n".join(line.removesuffix(" None") for line in lines)


def conditions_from_text(text: str) -> list[dict[str, Any]]:
    conditions: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.strip().split(None, 2)
        if not parts:
            continue
        if len(parts) < 2:
            raise ValidationError(
                # Translators: "property operator value" is the syntax of a line, keep its words
                gettext("Line %(number)s: write 'property operator value'.") % {"number": number}
            )
        prop, op = parts[0], parts[1]
        if op not in r.ACTIVITY_OPS:
            raise ValidationError(
                gettext("Line %(number)s: unknown operator %(op)s; use one of %(ops)s.")
                % {"number": number, "op": repr(op), "ops": ", ".join(sorted(r.ACTIVITY_OPS))}
            )
        raw = parts[2] if len(parts) == 3 else ""
        value: Any = None if op == "exists" else raw
        if op == "in":
            value = [v.strip() for v in raw.split(",") if v.strip()]
        elif op != "exists" and not raw:
            raise ValidationError(
                gettext("Line %(number)s: %(op)s needs a value.")
                % {"number": number, "op": repr(op)}
            )
        conditions.append({"property": prop, "op": op, "value": value})
    return conditions


def steps_to_text(steps: list[list[float]]) -> str:
    return ", ".join(f"{age:g}:{factor:g}" for age, factor in steps)


def steps_from_text(text: str) -> list[list[float]]:
    steps = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            age, factor = (float(x) for x in part.split(":"))
        except ValueError:
            raise ValidationError(
                # Translators: "days:factor" is the syntax of a step (e.g. 30:0.5)
                gettext("%(step)s is not days:factor (e.g. 30:0.5).") % {"step": repr(part)}
            ) from None
        steps.append([age, factor])
    return steps


def fit_value_to_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "" if value is None else str(value)


def fit_value_from_text(op: str, text: str) -> Any:
    if op in ("is_empty", "free_mail"):
        word = text.strip().lower()
        if word not in _YES | _NO:
            # Translators: the editor reads the English words yes and no (or true/false, 1/0)
            raise ValidationError(gettext("Write yes or no."))
        return word in _YES
    if op in r.ORDER_OPS:
        return _bound_from_text(text.strip())
    return [v.strip() for v in text.split(",") if v.strip()]


def _bound_from_text(text: str) -> int | float | str:
    """at_least / below: a date stays text (the service checks it fits the field), a number is
    read as one."""
    if r.DATE_RE.fullmatch(text):
        return text
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ValidationError(
            gettext("Write one number (e.g. 500 or 12.5) or a date (YYYY-MM-DD).")
        )
    return number


def fit_field_choices() -> list[tuple[str, Any]]:
    """What a fit rule may read: the lead's own fields, its tags, its custom fields; and what an
    account fit rule may read: the account's fields."""
    custom = [(f"{r.CUSTOM_PREFIX}{f.key}", f"{f.label} ({f.key})") for f in lead_fields().values()]
    return [
        ("", "—"),
        (gettext("Lead fields"), [(f, f) for f in sorted(r.FIT_FIELDS)]),
        (r.TAGS, gettext("Tags")),
        *([(gettext("Custom fields"), custom)] if custom else []),
        # last: an account rule's "country" shows selected here, not among the lead fields
        (gettext("Account fields (account fit rules)"), [(f, f) for f in ar.ACCOUNT_FIELDS]),
    ]


def _conditions_help() -> str:
    return gettext("One per line: property operator value. Operators: %(ops)s.") % {
        "ops": ", ".join(sorted(r.ACTIVITY_OPS))
    }


def apply_service_errors(form: forms.Form, exc: ValidationError | DomainError) -> None:
    """Show an error raised by a service on the field it names (or on top of the form)."""
    if isinstance(exc, DomainError):
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, exc.message)
        return
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            field = name if name in form.fields else None
            for error in errors:
                form.add_error(field, error.messages[0] if error.messages else str(error))
    else:
        form.add_error(None, exc.messages)


class ModelSettingsForm(forms.Form):
    name = forms.CharField(max_length=120, label=_("Name"))
    description = forms.CharField(
        required=False, label=_("Description"), widget=forms.Textarea(attrs={"rows": 2})
    )
    lead_fit_threshold = forms.IntegerField(
        label=_("Suspect → Lead at fit ≥"), help_text=_("Fit points that make a suspect a lead.")
    )
    mql_threshold = forms.IntegerField(label=_("Lead → MQL at total ≥"))
    mql_min_grade = forms.ChoiceField(
        label=_("…and fit grade at least"), choices=[(g, g) for g in r.GRADES]
    )
    mql_min_probability = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        label=_("…and predicted probability at least"),
        help_text=_("Optional, 0–1: the learned conversion probability (predictive scoring)."),
    )
    recycle_below = forms.IntegerField(
        required=False,
        label=_("Recycle an MQL below"),
        help_text=_("Empty: MQLs are never recycled automatically."),
    )
    grade_a_min = forms.IntegerField(label=_("Grade A from fit"))
    grade_b_min = forms.IntegerField(label=_("Grade B from fit"))
    grade_c_min = forms.IntegerField(label=_("Grade C from fit"))
    decay = forms.ChoiceField(label=_("Decay"), choices=ScoringModel.Decay.choices)
    half_life_days = forms.FloatField(required=False, label=_("Half-life (days)"))
    decay_steps = forms.CharField(
        required=False,
        label=_("Decay steps"),
        # Translators: "days:factor" is the syntax of a step; keep the numbers' format
        help_text=_("days:factor, e.g. 30:0.5, 90:0"),
    )
    # the account score (scoring.account_rules): engagement = capped members' engagement +
    # engaged members × points + engaged buying roles × points
    account_engaged_min = forms.IntegerField(
        min_value=0,
        label=_("Account: member engaged from"),
        help_text=_(
            "A member counts as engaged when their lead's engagement score is at least this."
        ),
    )
    account_engagement_cap = forms.IntegerField(
        min_value=0,
        label=_("Account: member engagement cap"),
        help_text=_("The members' engagement points are summed up to this many points."),
    )
    account_member_points = forms.IntegerField(
        min_value=0,
        label=_("Account: points per engaged member"),
        help_text=_("Points for each engaged member, up to the cap below."),
    )
    account_member_cap = forms.IntegerField(
        min_value=0,
        label=_("Account: engaged members counted"),
        help_text=_("At most this many engaged members earn points."),
    )
    account_role_points = forms.IntegerField(
        min_value=0,
        label=_("Account: points per engaged buying role"),
        help_text=_("For each buying role (other than unknown) an engaged member holds."),
    )
    account_mqa_threshold = forms.IntegerField(
        min_value=0,
        label=_("Account → MQA at score ≥"),
        # Translators: MQA = marketing-qualified account
        help_text=_("The account score that makes an account marketing-qualified (MQA)."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The model page shows this form beside the add-rule form, which has `name` and `decay`
        # too: its own ids ("settings_name") keep each <label for> pointing at its own field.
        # Only the ids change; the field names each form posts stay as they are.
        kwargs.setdefault("auto_id", "settings_%s")
        super().__init__(*args, **kwargs)

    @classmethod
    def for_model(cls, model: ScoringModel, **kwargs: Any) -> "ModelSettingsForm":
        initial = {name: getattr(model, name) for name in cls.base_fields}
        initial["decay_steps"] = steps_to_text(model.decay_steps or [])
        return cls(initial=initial, **kwargs)

    def clean_decay_steps(self) -> list[list[float]]:
        return steps_from_text(self.cleaned_data.get("decay_steps") or "")


class RuleForm(forms.Form):
    name = forms.CharField(max_length=120, label=_("Name"))
    kind = forms.ChoiceField(label=_("Kind"), choices=ScoringRule.Kind.choices)
    points = forms.IntegerField(
        label=_("Points"), help_text=_("Negative points are allowed (e.g. unsubscribe −30).")
    )
    # activity rules
    activity_kind = forms.ChoiceField(
        required=False, choices=[("", "—"), *ActivityKind.choices], label=_("Activity")
    )
    conditions = forms.CharField(
        required=False,
        label=_("Conditions"),
        # (the placeholder is an example of the syntax: property, operator code, value)
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "url contains /pricing"}),
        help_text=lazy(_conditions_help, str)(),
    )
    repeatable = forms.BooleanField(required=False, initial=True, label=_("Counts every time"))
    max_count = forms.IntegerField(required=False, min_value=1, label=_("At most (times)"))
    max_points = forms.IntegerField(required=False, min_value=1, label=_("Cap (points)"))
    window_days = forms.FloatField(required=False, label=_("Window (days)"))
    window_max = forms.IntegerField(required=False, min_value=1, label=_("At most per window"))
    decay = forms.ChoiceField(label=_("Decay"), choices=ScoringRule.Decay.choices, initial="model")
    half_life_days = forms.FloatField(required=False, label=_("Half-life (days)"))
    decay_steps = forms.CharField(
        required=False, label=_("Decay steps"), help_text=_("e.g. 30:0.5, 90:0")
    )
    # inactivity rules
    inactive_days = forms.FloatField(required=False, label=_("Inactive for (days)"))
    # fit rules
    field = forms.ChoiceField(  # choices: fit_field_choices(), read per form (custom fields)
        required=False,
        label=_("Field"),
        help_text=_(
            # Translators: the operators are named as in the Operator list of the same form
            "Tags: in, not in, is empty. Custom numbers, money and dates: at least, "
            "below, is empty. Custom text, choices, yes/no: in, not in (multiple choice: holds any "
            "/ none of them), is empty."
        ),
    )
    op = forms.ChoiceField(
        required=False,
        label=_("Operator"),
        choices=[("", "—"), *((o, FIT_OP_LABELS[o]) for o in sorted(r.FIT_OPS))],
    )
    value = forms.CharField(
        required=False,
        label=_("Value"),
        help_text=_(
            # Translators: yes/no, true/false and YYYY-MM-DD are what the editor reads: keep them
            "Comma-separated values; yes/no for 'is empty' and 'free mail'; one number or "
            "a date (YYYY-MM-DD) for 'at least' and 'below'; true or false for a yes/no field."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = fit_field_choices()  # type: ignore[attr-defined]

    @classmethod
    def for_rule(cls, rule: ScoringRule, **kwargs: Any) -> "RuleForm":
        initial = {name: getattr(rule, name) for name in cls.base_fields}
        initial["conditions"] = conditions_to_text(rule.conditions or [])
        initial["decay_steps"] = steps_to_text(rule.decay_steps or [])
        initial["value"] = fit_value_to_text(rule.value)
        return cls(initial=initial, **kwargs)

    def clean_conditions(self) -> list[dict[str, Any]]:
        return conditions_from_text(self.cleaned_data.get("conditions") or "")

    def clean_decay_steps(self) -> list[list[float]]:
        return steps_from_text(self.cleaned_data.get("decay_steps") or "")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") in _FIT_KINDS and "value" in data:
            try:
                data["value"] = fit_value_from_text(data.get("op") or "", data["value"] or "")
            except ValidationError as exc:
                self.add_error("value", exc)
        else:
            data["value"] = None
        return data

    def service_data(self) -> dict[str, Any]:
        """Only the fields of the chosen kind, so a fit rule never carries activity settings."""
        data = self.cleaned_data
        common = {k: data[k] for k in ("name", "kind", "points")}
        if data["kind"] in _FIT_KINDS:
            return {**common, "field": data["field"], "op": data["op"], "value": data["value"]}
        if data["kind"] == ScoringRule.Kind.INACTIVITY:
            return {**common, "inactive_days": data["inactive_days"]}
        keys = (
            "activity_kind",
            "conditions",
            "repeatable",
            "max_count",
            "max_points",
            "window_days",
            "window_max",
            "decay",
            "half_life_days",
            "decay_steps",
        )
        return {**common, **{k: data[k] for k in keys}}


class DryRunLeadFilterForm(forms.Form):
    """Filters of a dry run's named leads (page, CSV and API)."""

    move = forms.ChoiceField(
        choices=[("", _("Either way"))] + list(DryRunLead.Move.choices),
        required=False,
        label=_("Move"),
    )
    source = forms.CharField(required=False, max_length=100, label=_("Source"))
    owner = forms.ModelChoiceField(
        queryset=User.objects.order_by("username"),
        required=False,
        label=_("Would go to"),
        empty_label=_("Anyone"),
    )
    queue = forms.BooleanField(required=False, label=_("Only those left in a team queue"))

    def filters(self) -> dict[str, Any]:
        """Keyword arguments of ``dry_run_leads.movers`` (call after ``is_valid()``)."""
        d = self.cleaned_data
        return {
            "move": d.get("move") or "",
            "source": d.get("source") or None,
            "owner_id": d["owner"].pk if d.get("owner") else None,
            "queue": bool(d.get("queue")),
        }
