"""Score maths as pure data and functions: rule specs, their validation and the reference evaluator.

Pure: no database. ``scoring.engine`` compiles the same specs to one SQL statement on PostgreSQL
and calls :func:`evaluate` on SQLite; both produce the same :class:`Evaluation` shape, and the
property test checks them against each other.

Semantics (documented in docs/scoring.md):

- An *engagement* rule matches activities by kind plus property conditions. The matches are
  ranked newest first (occurred_at, then id). A per-window cap keeps the newest ``window_max``
  per fixed window of ``window_days`` (windows are aligned to the Unix epoch); then
  ``max_count`` (1 when not repeatable) keeps the newest N of what is left. Each kept match
  weighs ``decay(age)``; the rule's points are ``round_half_up(points * sum(weights))``, then
  clamped to ``±max_points``.
- An *inactivity* rule gives its points once when the newest counted activity (or, without any,
  the lead's creation / engagement reset) is at least ``inactive_days`` old.
- A *fit* rule gives its points once when the lead field matches: a built-in field, a custom
  field (``custom.<key>``, read from ``lead["custom"]``) or the lead's tags (``tags``, read from
  ``lead["tags"]``, a list of tag names).
- fit = sum of fit rules; engagement = sum of engagement rules; score = fit + engagement.
"""

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from leadflow.maildomains import free_mail_domains
from leadflow.validators import nul_path

DIMENSION_FIT: Final = "fit"
DIMENSION_ENGAGEMENT: Final = "engagement"

KIND_ACTIVITY: Final = "activity"
KIND_INACTIVITY: Final = "inactivity"
KIND_FIT: Final = "fit"
KIND_ACCOUNT_FIT: Final = "account_fit"  # scores accounts (scoring.account_rules), never leads

ACTIVITY_OPS: Final[frozenset[str]] = frozenset(
    {"equals", "not_equals", "contains", "not_contains", "starts_with", "in", "exists"}
)
FIT_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "industry",
        "company_size",
        "seniority",
        "job_title",
        "country",
        "domain",
        "source",
        "utm_source",
        "utm_campaign",
    }
)
# ``free_mail`` compares the lead's domain with leadflow.maildomains (value true: is free mail).
# ``at_least``/``below`` compare custom numbers and dates (ORDER_OPS).
FIT_OPS: Final[frozenset[str]] = frozenset(
    {"in", "not_in", "contains_any", "is_empty", "free_mail", "at_least", "below"}
)
TEXT_OPS: Final[frozenset[str]] = frozenset({"in", "not_in", "contains_any", "is_empty"})
ORDER_OPS: Final[frozenset[str]] = frozenset({"at_least", "below"})
TAGS: Final = "tags"  # a fit rule's field: the lead's tags
CUSTOM_PREFIX: Final = "custom."  # a fit rule's field: custom.<key>, a lead custom field
# The operators each custom field type takes (keys: leads.models.FieldType values; this module
# stays free of models). Multiple choice: ``in`` holds any of the values, ``not_in`` none.
CUSTOM_OPS: Final[dict[str, frozenset[str]]] = {
    "text": TEXT_OPS,
    "long_text": frozenset({"contains_any", "is_empty"}),
    "choice": TEXT_OPS,
    "url": TEXT_OPS,
    "email": TEXT_OPS,
    "user": TEXT_OPS,
    "multi_choice": frozenset({"in", "not_in", "is_empty"}),
    "boolean": frozenset({"in", "not_in", "is_empty"}),
    "integer": ORDER_OPS | {"is_empty"},
    "decimal": ORDER_OPS | {"is_empty"},
    "money": ORDER_OPS | {"is_empty"},
    "date": ORDER_OPS | {"is_empty"},
    "datetime": ORDER_OPS | {"is_empty"},
}
TAG_OPS: Final[frozenset[str]] = frozenset({"in", "not_in", "is_empty"})
DATE_TYPES: Final[frozenset[str]] = frozenset({"date", "datetime"})
# What at_least/below read as a number or a date (the SQL compiler tests the same patterns);
# anything else (a value left from another type) never matches.
NUMBER_RE: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?")
DATE_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DECAY_KINDS: Final[frozenset[str]] = frozenset({"model", "none", "half_life", "step"})
GRADES: Final[tuple[str, ...]] = ("A", "B", "C", "D")
DAY: Final = 86400.0


@dataclass(frozen=True)
class Condition:
    property: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class Decay:
    kind: str = "none"  # none | half_life | step
    half_life_days: float | None = None
    steps: tuple[tuple[float, float], ...] = ()  # (min age in days, factor), ascending ages

    def weight(self, age_days: float) -> float:
        if self.kind == "half_life" and self.half_life_days:
            return float(math.pow(0.5, age_days / self.half_life_days))
        if self.kind == "step":
            factor = 1.0
            for min_age, step_factor in self.steps:
                if age_days >= min_age:
                    factor = step_factor
            return factor
        return 1.0


@dataclass(frozen=True)
class RuleSpec:
    rule_id: int
    name: str
    kind: str  # activity | inactivity | fit
    points: int
    activity_kind: str = ""
    conditions: tuple[Condition, ...] = ()
    repeatable: bool = True
    max_count: int | None = None
    max_points: int | None = None
    window_days: float | None = None
    window_max: int | None = None
    decay: Decay = field(default_factory=Decay)
    inactive_days: float | None = None
    field: str = ""
    op: str = ""
    value: Any = None

    @property
    def dimension(self) -> str:
        return DIMENSION_FIT if self.kind == KIND_FIT else DIMENSION_ENGAGEMENT

    @property
    def keep(self) -> int | None:
        """How many matches count at most (after the window cap)."""
        if not self.repeatable:
            return 1
        return self.max_count


@dataclass(frozen=True)
class ModelSpec:
    rules: tuple[RuleSpec, ...]
    grade_a_min: int = 30
    grade_b_min: int = 15
    grade_c_min: int = 5


@dataclass(frozen=True)
class ActivityRow:
    id: int
    kind: str
    occurred_at: datetime
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class RuleResult:
    rule_id: int
    count: int
    points: int
    undecayed: int  # the points had every counted match weighed 1 (after the caps)


@dataclass(frozen=True)
class Evaluation:
    fit: int
    engagement: int
    grade: str
    rules: tuple[RuleResult, ...]  # only rules that counted something, by rule id

    @property
    def score(self) -> int:
        return self.fit + self.engagement


# --- arithmetic shared with the SQL compiler --------------------------------------------------


def round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def clamp(points: int, max_points: int | None) -> int:
    if max_points is None:
        return points
    return max(-max_points, min(max_points, points))


def grade_for(fit: int, spec: ModelSpec) -> str:
    if fit >= spec.grade_a_min:
        return "A"
    if fit >= spec.grade_b_min:
        return "B"
    if fit >= spec.grade_c_min:
        return "C"
    return "D"


def score_histogram(scores: Iterable[int]) -> dict[str, int]:
    """Scores counted in 10-point bins ("<0", "0-9", …, "90-99", "100+"): a dry run's
    distribution."""
    counts: dict[str, int] = {}
    for score in scores:
        key = (
            "<0"
            if score < 0
            else "100+"
            if score >= 100
            else f"{score // 10 * 10}-{score // 10 * 10 + 9}"
        )
        counts[key] = counts.get(key, 0) + 1
    return counts


def _text(value: Any) -> str | None:
    """A JSON property as PostgreSQL's ``->>`` renders it (None when absent or null)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    import json

    return json.dumps(value, separators=(", ", ": "))


def condition_matches(cond: Condition, properties: Mapping[str, Any]) -> bool:
    present = cond.property in properties
    text = _text(properties.get(cond.property))
    if cond.op == "exists":
        return present
    if cond.op == "equals":
        return text is not None and text == str(cond.value)
    if cond.op == "not_equals":
        return text is None or text != str(cond.value)
    if cond.op == "contains":
        return text is not None and str(cond.value) in text
    if cond.op == "not_contains":
        return text is None or str(cond.value) not in text
    if cond.op == "starts_with":
        return text is not None and text.startswith(str(cond.value))
    if cond.op == "in":
        return text is not None and text in {str(v) for v in cond.value}
    raise ValueError(cond.op)


def custom_key(field_name: str) -> str | None:
    """``custom.<key>`` -> key; None for any other field."""
    return field_name.removeprefix(CUSTOM_PREFIX) if field_name.startswith(CUSTOM_PREFIX) else None


def _custom_text(value: Any) -> str:
    """A custom value as ``custom ->> key`` renders it, "" when absent (like a blank field)."""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
    return _text(value) or ""


def _ordered(rule: RuleSpec, text: str) -> bool:
    """at_least / below: a date bound (ISO text, compared as text: a datetime on the bound's day
    is at least it) or a number bound (compared exactly, as decimals)."""
    if isinstance(rule.value, str):
        if not DATE_RE.match(text):
            return False
        return text >= rule.value if rule.op == "at_least" else text < rule.value
    if not NUMBER_RE.fullmatch(text):
        return False
    number, bound = Decimal(text), Decimal(str(rule.value))
    return number >= bound if rule.op == "at_least" else number < bound


def _in_names(rule: RuleSpec, names: Iterable[str]) -> bool | None:
    """in / not_in over a set of names (tags, a multiple choice); None for other operators."""
    wanted = {str(v).lower() for v in rule.value or ()}
    held = {n.lower() for n in names}
    if rule.op == "in":
        return bool(held & wanted)
    if rule.op == "not_in":
        return not held & wanted
    return None


def fit_matches(rule: RuleSpec, lead: Mapping[str, Any]) -> bool:
    if rule.field == TAGS and rule.op != "free_mail":
        names = [str(n) for n in lead.get("tags") or ()]
        if rule.op == "is_empty":
            return (not names) == bool(rule.value)
        found = _in_names(rule, names)
        if found is None:
            raise ValueError(rule.op)
        return found
    key = custom_key(rule.field) if rule.op != "free_mail" else None
    if key is not None:
        raw = (lead.get("custom") or {}).get(key)
        if rule.op in ORDER_OPS:
            return _ordered(rule, _custom_text(raw))
        if isinstance(raw, list) and rule.op in ("in", "not_in"):  # multiple choice
            found = _in_names(rule, [v for v in raw if isinstance(v, str)])
            return bool(found)
        raw = _custom_text(raw)
    else:
        raw = lead.get(rule.field if rule.op != "free_mail" else "domain") or ""
    text = str(raw).lower()
    if rule.op == "in":
        return text in {str(v).lower() for v in rule.value}
    if rule.op == "not_in":
        return text not in {str(v).lower() for v in rule.value}
    if rule.op == "contains_any":
        return any(str(v).lower() in text for v in rule.value)
    if rule.op == "is_empty":
        return (text == "") == bool(rule.value)
    if rule.op == "free_mail":
        return (text in free_mail_domains()) == bool(rule.value)
    raise ValueError(rule.op)


def evaluate(
    spec: ModelSpec,
    *,
    lead: Mapping[str, Any],
    activities: Iterable[ActivityRow],
    now: datetime,
) -> Evaluation:
    """Score one lead. ``lead`` holds the fit fields plus ``created_at`` and ``score_reset_at``."""
    reset = lead.get("score_reset_at")
    counted = [
        a for a in activities if a.occurred_at <= now and (reset is None or a.occurred_at >= reset)
    ]
    counted.sort(key=lambda a: (a.occurred_at, a.id), reverse=True)  # newest first
    results: list[RuleResult] = []
    fit = engagement = 0
    for rule in sorted(spec.rules, key=lambda r: r.rule_id):
        if rule.kind == KIND_ACCOUNT_FIT:  # scores the lead's account, not the lead
            continue
        if rule.kind == KIND_FIT:
            if fit_matches(rule, lead):
                results.append(RuleResult(rule.rule_id, 1, rule.points, rule.points))
                fit += rule.points
            continue
        if rule.kind == KIND_INACTIVITY:
            last = counted[0].occurred_at if counted else (reset or lead["created_at"])
            if rule.inactive_days is not None and (now - last).total_seconds() / DAY >= (
                rule.inactive_days
            ):
                results.append(RuleResult(rule.rule_id, 1, rule.points, rule.points))
                engagement += rule.points
            continue
        matches = [
            a
            for a in counted
            if a.kind == rule.activity_kind
            and all(condition_matches(c, a.properties) for c in rule.conditions)
        ]
        if rule.window_days and rule.window_max is not None:
            per_window: dict[int, int] = {}
            kept = []
            for a in matches:
                bucket = math.floor(a.occurred_at.timestamp() / (rule.window_days * DAY))
                per_window[bucket] = per_window.get(bucket, 0) + 1
                if per_window[bucket] <= rule.window_max:
                    kept.append(a)
            matches = kept
        if rule.keep is not None:
            matches = matches[: rule.keep]
        if not matches:
            continue
        weights = sum(
            rule.decay.weight((now - a.occurred_at).total_seconds() / DAY) for a in matches
        )
        points = clamp(round_half_up(rule.points * weights), rule.max_points)
        undecayed = clamp(rule.points * len(matches), rule.max_points)
        results.append(RuleResult(rule.rule_id, len(matches), points, undecayed))
        engagement += points
    return Evaluation(fit, engagement, grade_for(fit, spec), tuple(results))


# --- validation: refused at save with the field and the reason ---------------------------------
# The messages are shown on the rules editor's fields and in API errors: translated (in the
# language of the request). Codes (field names, operators, decay kinds) stay as they are typed.


def _int(value: Any, name: str, *, minimum: int | None = None, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            {
                # Translators: %(name)s is a field's code (e.g. max_count), %(value)s what was given
                name: _("%(name)s must be a whole number, not %(value)s.")
                % {"name": name, "value": repr(value)}
            }
        )
    if minimum is not None and value < minimum:
        raise ValidationError(
            {
                # Translators: %(name)s is a field's code (e.g. max_count)
                name: _("%(name)s must be at least %(minimum)s.")
                % {"name": name, "minimum": minimum}
            }
        )


def _positive(value: Any, name: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValidationError(
            {
                # Translators: %(name)s is a field's code (e.g. window_days), %(value)s what was given
                name: _("%(name)s must be a positive number, not %(value)s.")
                % {"name": name, "value": repr(value)}
            }
        )


def validate_decay(*, kind: str, half_life_days: Any, steps: Any, prefix: str = "") -> None:
    if kind not in DECAY_KINDS:
        raise ValidationError(
            {
                f"{prefix}decay": _("Unknown decay %(kind)s; expected one of %(kinds)s.")
                % {"kind": repr(kind), "kinds": sorted(DECAY_KINDS)}
            }
        )
    if kind == "half_life":
        if half_life_days is None:
            raise ValidationError(
                {f"{prefix}half_life_days": _("Half-life decay needs a half-life.")}
            )
        _positive(half_life_days, f"{prefix}half_life_days")
    if kind == "step":
        validate_steps(steps, f"{prefix}decay_steps")


def validate_steps(steps: Any, name: str) -> None:
    if not isinstance(steps, list) or not steps:
        raise ValidationError({name: _("Step decay needs a list of [age in days, factor] pairs.")})
    last = -1.0
    for i, step in enumerate(steps):
        if (
            not isinstance(step, list | tuple)
            or len(step) != 2
            or any(isinstance(x, bool) or not isinstance(x, int | float) for x in step)
        ):
            raise ValidationError(
                {name: _("Step %(number)s must be [age in days, factor].") % {"number": i + 1}}
            )
        age, factor = step
        if age <= last:
            raise ValidationError({name: _("Step ages must be positive and strictly increasing.")})
        if not 0 <= factor <= 1:
            raise ValidationError(
                {
                    name: _("Step %(number)s: the factor must be between 0 and 1.")
                    % {"number": i + 1}
                }
            )
        last = age


def validate_conditions(conditions: Any) -> None:
    if not isinstance(conditions, list):
        raise ValidationError({"conditions": _("Conditions must be a list.")})
    if (where := nul_path(conditions)) is not None:
        raise ValidationError(
            {
                # Translators: %(path)s locates the value, e.g. "0.property" (condition 1's property)
                "conditions": _("conditions.%(path)s contains a NUL (\\u0000) character.")
                % {"path": where}
            }
        )
    for i, cond in enumerate(conditions):
        number = {"number": i + 1}
        if not isinstance(cond, dict) or set(cond) - {"property", "op", "value"}:
            raise ValidationError(
                {
                    "conditions": _(
                        "Condition %(number)s must be an object with property, op and value."
                    )
                    % number
                }
            )
        prop = cond.get("property")
        if not isinstance(prop, str) or not prop.strip():
            raise ValidationError(
                {
                    "conditions": _("Condition %(number)s: property must be a non-empty name.")
                    % number
                }
            )
        op = cond.get("op")
        if op not in ACTIVITY_OPS:
            raise ValidationError(
                {
                    "conditions": _(
                        "Condition %(number)s: unknown operator %(op)s; use one of %(ops)s."
                    )
                    % {**number, "op": repr(op), "ops": sorted(ACTIVITY_OPS)}
                }
            )
        value = cond.get("value")
        if op == "in":
            if not isinstance(value, list) or not value:
                raise ValidationError(
                    {"conditions": _("Condition %(number)s: 'in' needs a non-empty list.") % number}
                )
        elif op != "exists" and (value is None or isinstance(value, dict | list)):
            raise ValidationError(
                {
                    "conditions": _("Condition %(number)s: %(op)s needs a single value.")
                    % {**number, "op": repr(op)}
                }
            )


# What a fit rule reads, as its error messages name it: the lead's tags, a custom field or a
# built-in lead field (each message has one full sentence per case, for translators).
_ON_TAGS, _ON_CUSTOM, _ON_FIELD = "tags", "custom", "field"


def _fit_field_ops(
    field_name: str, custom_fields: Mapping[str, str]
) -> tuple[str, dict[str, str], frozenset[str]]:
    """What ``field_name`` is (one of ``_ON_*`` and the names its messages show) and the
    operators it takes."""
    if field_name == TAGS:
        return _ON_TAGS, {}, TAG_OPS
    key = custom_key(field_name)
    if key is not None:
        kind = custom_fields.get(key)
        if kind is None:
            known = ", ".join(sorted(custom_fields)) or _("none yet")
            raise ValidationError(
                {
                    "field": _(
                        "Unknown custom field %(key)s; the lead's custom fields are %(known)s."
                    )
                    % {"key": repr(key), "known": known}
                }
            )
        names = {"key": repr(key), "type": kind}
        return _ON_CUSTOM, names, CUSTOM_OPS.get(kind, frozenset())
    if field_name not in FIT_FIELDS:
        custom = [f"{CUSTOM_PREFIX}{k}" for k in sorted(custom_fields)]
        raise ValidationError(
            {
                "field": _(
                    "Unknown lead field %(field)s; use one of %(fields)s, %(tags)s or %(custom)s."
                )
                % {
                    "field": repr(field_name),
                    "fields": sorted(FIT_FIELDS),
                    "tags": repr(TAGS),
                    "custom": custom or "custom.<key>",
                }
            }
        )
    return _ON_FIELD, {"field": repr(field_name)}, TEXT_OPS


def _op_not_taken(on: str, names: dict[str, str], op: str, ops: frozenset[str]) -> str:
    params = {**names, "op": repr(op), "ops": sorted(ops) if ops else _("none")}
    if on == _ON_TAGS:
        return _("tags does not take %(op)s; use one of %(ops)s.") % params
    if on == _ON_CUSTOM:
        # Translators: %(type)s is the custom field's type code (e.g. choice, integer)
        return _("custom field %(key)s (%(type)s) does not take %(op)s; use one of %(ops)s.") % (
            params
        )
    return _("field %(field)s does not take %(op)s; use one of %(ops)s.") % params


def _needs_list(on: str, names: dict[str, str], op: str) -> str:
    params = {**names, "op": repr(op)}
    if on == _ON_TAGS:
        return _("%(op)s on tags needs a non-empty list of strings.") % params
    if on == _ON_CUSTOM:
        # Translators: %(type)s is the custom field's type code (e.g. choice, integer)
        return _("%(op)s on custom field %(key)s (%(type)s) needs a non-empty list of strings.") % (
            params
        )
    return _("%(op)s on field %(field)s needs a non-empty list of strings.") % params


def validate_fit(
    *, field_name: str, op: str, value: Any, custom_fields: Mapping[str, str] | None = None
) -> None:
    """Refuse a fit rule that cannot be evaluated. ``custom_fields``: the lead custom fields
    that exist, key -> type (``leads.models.FieldType`` value); the caller reads them."""
    if (where := nul_path(value, "value")) is not None:
        raise ValidationError(
            {
                # Translators: %(path)s locates the value, e.g. "value.0" (its first item)
                "value": _("%(path)s contains a NUL (\\u0000) character.") % {"path": where}
            }
        )
    if op not in FIT_OPS:
        raise ValidationError(
            {
                "op": _("Unknown operator %(op)s; use one of %(ops)s.")
                % {"op": repr(op), "ops": sorted(FIT_OPS)}
            }
        )
    if op == "free_mail":
        if not isinstance(value, bool):
            raise ValidationError({"value": _("%(op)s needs true or false.") % {"op": repr(op)}})
        return
    on, names, ops = _fit_field_ops(field_name, custom_fields or {})
    if op not in ops:
        raise ValidationError({"op": _op_not_taken(on, names, op, ops)})
    kind = (custom_fields or {}).get(custom_key(field_name) or "", "")
    # (below: only custom fields have a kind, and only they take at_least / below)
    custom = {**names, "op": repr(op), "value": repr(value)}
    if op in ("in", "not_in", "contains_any"):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ValidationError({"value": _needs_list(on, names, op)})
        if kind == "boolean" and not all(v.lower() in ("true", "false") for v in value):
            raise ValidationError(
                {
                    "value": _(
                        '%(op)s on custom field %(key)s (%(type)s) needs ["true"] or ["false"].'
                    )
                    % custom
                }
            )
    elif op in ORDER_OPS:
        if kind in DATE_TYPES:
            if not isinstance(value, str) or not DATE_RE.fullmatch(value) or not _is_date(value):
                raise ValidationError(
                    {
                        "value": _(
                            "%(op)s on custom field %(key)s (%(type)s) needs a date as "
                            "YYYY-MM-DD, not %(value)s."
                        )
                        % custom
                    }
                )
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            raise ValidationError(
                {
                    "value": _(
                        "%(op)s on custom field %(key)s (%(type)s) needs one number, not %(value)s."
                    )
                    % custom
                }
            )
    elif not isinstance(value, bool):
        raise ValidationError({"value": _("%(op)s needs true or false.") % {"op": repr(op)}})


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def rule_signature(rule: RuleSpec) -> tuple[Any, ...]:
    """Rules with equal signatures count the same thing twice (an overlap we refuse)."""
    if rule.kind in (KIND_FIT, KIND_ACCOUNT_FIT):
        value = sorted(rule.value) if isinstance(rule.value, list) else rule.value
        return (rule.kind, rule.field, rule.op, repr(value))
    if rule.kind == KIND_INACTIVITY:
        return (rule.kind, rule.inactive_days)
    conds = sorted((c.property, c.op, repr(c.value)) for c in rule.conditions)
    return (rule.kind, rule.activity_kind, tuple(conds))


def find_overlap(rules: Sequence[RuleSpec]) -> tuple[RuleSpec, RuleSpec] | None:
    seen: dict[tuple[Any, ...], RuleSpec] = {}
    for rule in rules:
        sig = rule_signature(rule)
        if sig in seen:
            return seen[sig], rule
        seen[sig] = rule
    return None
