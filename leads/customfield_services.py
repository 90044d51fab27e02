"""Defining custom fields, and changing them without losing a value silently.

- A field's ``key`` is fixed once made (API payloads, imports, saved views and scoring rules name
  it); renaming is changing its ``label``, and a choice is renamed by its label too, so no
  stored value changes.
- A type change or a deletion is previewed first (how many values convert, fail, are dropped),
  applied in one transaction, and every dropped value is kept in the audit log.
- A field marked filterable gets an expression index on PostgreSQL (made concurrently after
  commit); ``leads.customfields.filter_expression`` is the expression the filters use.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Index
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from leadflow.audit import audit_record
from leadflow.exceptions import DomainError
from leadflow.models import User
from leadflow.roles import Role
from leads import customfields as cf
from leads import events
from leads.models import CustomField, FieldType, Lead
from leads.services import leads_mark_for_rescore

BATCH: Final = 2000  # leads rewritten per UPDATE in a type change or deletion
AUDIT_CHUNK: Final = 1000  # dropped values per audit row
SAMPLE: Final = 5  # failures a preview shows
# names the lead already has (a custom key equal to one would make imports and the API ambiguous)
RESERVED: Final = frozenset(f.name for f in Lead._meta.get_fields()) | {"tags", "custom", "id"}
EDITABLE: Final = (
    "label",
    "required",
    "default",
    "help_text",
    "choices",
    "currency",
    "visible_to",
    "editable_by",
    "position",
    "show_on_cards",
    "filterable",
)


class FieldInUseError(DomainError):
    code = "custom_field_in_use"


@dataclass(frozen=True)
class Preview:
    """What a type change or deletion would do to the stored values."""

    total: int  # leads holding a value
    convert: int = 0
    fail: int = 0
    failures: list[tuple[int, Any, str]] = field(default_factory=list)  # (lead id, value, why)


def _check_roles(name: str, roles: Any) -> None:
    known = {r.value for r in Role}
    if not isinstance(roles, list) or any(r not in known for r in roles):
        raise ValidationError(
            {name: _("Use a list of roles from %(roles)s.") % {"roles": sorted(known)}}
        )


def _check_choices(choices: Any, kind: str) -> list[dict[str, str]]:
    if kind not in (FieldType.CHOICE, FieldType.MULTI_CHOICE):
        return []
    if not isinstance(choices, list) or not choices:
        raise ValidationError({"choices": _("A choice field needs at least one choice.")})
    out, seen = [], set()
    for i, choice in enumerate(choices, 1):
        if isinstance(choice, str):
            choice = {"value": choice, "label": choice}
        value = str(choice.get("value", "")).strip() if isinstance(choice, dict) else ""
        label = str(choice.get("label") or value).strip() if isinstance(choice, dict) else ""
        if not value or len(value) > 100 or len(label) > 100:
            raise ValidationError(
                {
                    "choices": _("Choice %(number)s needs a value of 1–100 characters.")
                    % {"number": i}
                }
            )
        if value.lower() in seen:
            raise ValidationError(
                {
                    "choices": _("Choice %(number)s: %(value)s is listed twice.")
                    % {"number": i, "value": repr(value)}
                }
            )
        seen.add(value.lower())
        out.append({"value": value, "label": label})
    return out


def _validated(instance: CustomField) -> CustomField:
    if not cf.KEY_RE.match(instance.key or ""):
        raise ValidationError(
            {"key": _("Use 1–40 lower-case letters, digits and _, starting with a letter.")}
        )
    if instance.key in RESERVED:
        raise ValidationError(
            {
                "key": _("%(key)s is a built-in lead field; pick another.")
                % {"key": repr(instance.key)}
            }
        )
    if instance.type not in FieldType.values:
        raise ValidationError({"type": _unknown_type(instance.type)})
    if not (instance.label or "").strip():
        raise ValidationError({"label": _("Give the field a label.")})
    instance.choices = _check_choices(instance.choices, instance.type)
    _check_roles("visible_to", instance.visible_to)
    _check_roles("editable_by", instance.editable_by)
    if instance.type == FieldType.MONEY:
        if not (isinstance(instance.currency, str) and len(instance.currency) == 3):
            raise ValidationError({"currency": _no_currency()})
        instance.currency = instance.currency.upper()
    else:
        instance.currency = ""
    if instance.default is not None:
        try:
            instance.default = cf.clean_value(instance, instance.default)
        except cf.FieldValueError as exc:
            raise ValidationError({"default": _("Default: %(error)s") % {"error": exc}}) from None
    instance.filterable = instance.filterable and instance.type in cf.INDEXED
    return instance


def _unknown_type(kind: object) -> str:
    return _("Unknown type %(type)s.") % {"type": repr(kind)}


def _no_currency() -> str:
    return _("A money field needs a currency (e.g. EUR).")


def _audit(
    action: str, instance: CustomField, actor: User | None, request: Any, **details: Any
) -> None:
    audit_record(
        action=action,
        actor=actor,
        target_type="custom_field",
        target_id=instance.pk,
        details={"key": instance.key, "label": instance.label, **details},
        request=request,
    )


@transaction.atomic
def field_create(
    *, data: Mapping[str, Any], actor: User | None, request: Any = None
) -> CustomField:
    unknown = sorted(set(data) - {*EDITABLE, "key", "type", "entity"})
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, _("This field cannot be set.")))
    instance = _validated(CustomField(**data))
    taken = ValidationError(
        {"key": _("There is a field with the key %(key)s already.") % {"key": repr(instance.key)}}
    )
    if CustomField.objects.filter(entity=instance.entity, key=instance.key).exists():
        raise taken
    try:
        with transaction.atomic():  # a savepoint: the transaction stays usable after a refusal
            instance.save()
    except IntegrityError:
        # two admins creating the same key at once: the one whose insert waited on the other's
        # commit is refused like any taken key, not with a server error
        if CustomField.objects.filter(entity=instance.entity, key=instance.key).exists():
            raise taken from None
        raise
    _audit("custom_field.create", instance, actor, request, type=instance.type)
    _index_on_commit(instance)
    return instance


@transaction.atomic
def field_update(
    *, field_id: int, data: Mapping[str, Any], actor: User | None, request: Any = None
) -> CustomField:
    """Change anything but the key and the type (see ``field_change_type``). A choice that
    leads hold cannot be removed: rename its label, or change the values first."""
    unknown = sorted(set(data) - set(EDITABLE))
    if unknown:
        raise ValidationError(dict.fromkeys(unknown, _("This field cannot be changed here.")))
    instance = CustomField.objects.select_for_update().get(pk=field_id)
    before = {name: getattr(instance, name) for name in EDITABLE}
    for name, value in data.items():
        setattr(instance, name, value)
    _validated(instance)
    if instance.type in (FieldType.CHOICE, FieldType.MULTI_CHOICE):
        kept = {c["value"] for c in instance.choices}
        removed = [c["value"] for c in before["choices"] if c["value"] not in kept]
        for value in removed:
            held = _holding(instance).filter(cf.holds_q(instance, value)).count()
            if held:
                message = ngettext(
                    # Translators: English says "lead(s)" whatever the count; use your plural forms
                    "%(count)s lead(s) hold the choice %(value)s: keep it (rename its label), or "
                    "change those leads first.",
                    "%(count)s lead(s) hold the choice %(value)s: keep it (rename its label), or "
                    "change those leads first.",
                    held,
                )
                raise ValidationError({"choices": message % {"count": held, "value": repr(value)}})
    instance.save()
    changed = {
        n: [before[n], getattr(instance, n)] for n in EDITABLE if before[n] != getattr(instance, n)
    }
    if changed:
        _audit("custom_field.update", instance, actor, request, changed=changed)
    if "filterable" in changed:
        _index_on_commit(instance)
    return instance


def _holding(instance: CustomField) -> Any:
    return Lead.objects.filter(custom__has_key=instance.key)


def _values(instance: CustomField) -> Iterator[tuple[int, Any]]:
    rows = _holding(instance).order_by("pk").values_list("pk", f"custom__{instance.key}")
    yield from rows.iterator(chunk_size=BATCH)


def preview_type_change(
    *, field_id: int, to: str, choices: Any = None, currency: str = ""
) -> tuple[CustomField, Preview]:
    """How each stored value would fare as ``to``: converted, or dropped with the reason."""
    current = CustomField.objects.get(pk=field_id)
    target = _target(current, to, choices, currency)
    converted, failures = _convert(current, target)
    total = len(converted) + len(failures)
    return target, Preview(
        total=total, convert=len(converted), fail=len(failures), failures=failures
    )


def _target(current: CustomField, to: str, choices: Any, currency: str) -> CustomField:
    """``current`` as it would be with the type ``to`` (checked, not saved)."""
    if to not in FieldType.values:
        raise ValidationError({"type": _unknown_type(to)})
    target = CustomField(
        key=current.key,
        label=current.label,
        type=to,
        choices=_check_choices(choices if choices is not None else current.choices, to),
        currency=currency or current.currency,
        visible_to=current.visible_to,
        editable_by=current.editable_by,
    )
    if to == FieldType.MONEY and len(target.currency or "") != 3:
        raise ValidationError({"currency": _no_currency()})
    return target


def _convert(
    current: CustomField, target: CustomField
) -> tuple[dict[int, Any], list[tuple[int, Any, str]]]:
    """Every stored value of ``current`` as ``target`` takes it: {lead id: new value}, and the
    (lead id, value, why) of each that cannot convert."""
    converted: dict[int, Any] = {}
    failures: list[tuple[int, Any, str]] = []
    for lead_id, value in _values(current):
        try:
            converted[lead_id] = cf.clean_value(target, _as_input(current, value))
        except cf.FieldValueError as exc:
            failures.append((lead_id, value, str(exc)))
    return converted, failures


def _as_input(field: CustomField, value: Any) -> Any:
    """A stored value as the new type's cleaner reads it (choices by label, lists joined)."""
    if field.type == FieldType.CHOICE:
        return field.choice_label(value)
    if field.type == FieldType.MULTI_CHOICE and isinstance(value, list):
        return "; ".join(field.choice_label(v) for v in value)
    return value


@transaction.atomic
def field_change_type(
    *,
    field_id: int,
    to: str,
    actor: User | None,
    expect_dropped: int,
    choices: Any = None,
    currency: str = "",
    request: Any = None,
) -> Preview:
    """Convert every stored value to ``to``; a value that cannot convert is dropped and kept in
    the audit log. ``expect_dropped`` is what the person saw in the preview: if more values
    would be dropped now (someone edited leads since), nothing changes (FieldInUseError)."""
    instance = CustomField.objects.select_for_update().get(pk=field_id)
    old_type = instance.type
    target = _target(instance, to, choices, currency)
    converted, failures = _convert(instance, target)  # one pass: the check and the values
    if len(failures) > expect_dropped:
        message = ngettext(
            # Translators: English says "value(s)" whatever the count; use your plural forms
            "%(count)s value(s) would be dropped now, not %(expected)s: preview again.",
            "%(count)s value(s) would be dropped now, not %(expected)s: preview again.",
            len(failures),
        )
        raise FieldInUseError(
            message % {"count": len(failures), "expected": expect_dropped}, field="type"
        )
    dropped = {lead_id: value for lead_id, value, _why in failures}
    instance.type, instance.choices, instance.currency = to, target.choices, target.currency
    instance.default = None if old_type != to else instance.default
    _validated(instance)
    instance.save()
    _rewrite(instance.key, converted, dropped)
    _audit(
        "custom_field.type_change",
        instance,
        actor,
        request,
        **{"from": old_type, "to": to, "converted": len(converted), "dropped": len(dropped)},
    )
    _audit_dropped(instance, dropped, actor, request)
    _index_on_commit(instance)
    total = len(converted) + len(failures)
    return Preview(total=total, convert=len(converted), fail=len(failures), failures=failures)


def preview_delete(*, field_id: int) -> Preview:
    instance = CustomField.objects.get(pk=field_id)
    return Preview(total=_holding(instance).count())


@transaction.atomic
def field_delete(*, field_id: int, actor: User | None, request: Any = None) -> int:
    """Delete the field and take its values off every lead, keeping them in the audit log.
    Apps that use fields (scoring rules) may refuse through ``custom_field_delete_requested``."""
    instance = CustomField.objects.select_for_update().get(pk=field_id)
    events.custom_field_delete_requested.send(sender=CustomField, field=instance)
    dropped = dict(_values(instance))
    _rewrite(instance.key, {}, dropped)
    _audit(
        "custom_field.delete", instance, actor, request, type=instance.type, dropped=len(dropped)
    )
    _audit_dropped(instance, dropped, actor, request)
    key, was_indexed = instance.key, instance.filterable
    instance.delete()
    if was_indexed:
        transaction.on_commit(lambda: _drop_index(key))
    return len(dropped)


def _rewrite(key: str, converted: Mapping[int, Any], dropped: Mapping[int, Any]) -> None:
    """Set ``custom[key]`` to each converted value and remove it from the dropped leads."""
    ids = sorted({*converted, *dropped})
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        leads = list(Lead.objects.filter(pk__in=chunk).only("pk", "custom"))
        for lead in leads:
            lead.custom = cf.merged(lead.custom, {key: converted.get(lead.pk)})
        Lead.objects.bulk_update(leads, ["custom"])
    leads_mark_for_rescore(ids)  # fit rules may read the field


def _audit_dropped(
    instance: CustomField, dropped: Mapping[int, Any], actor: User | None, request: Any
) -> None:
    items = sorted(dropped.items())
    for start in range(0, len(items), AUDIT_CHUNK):
        _audit(
            "custom_field.values_dropped",
            instance,
            actor,
            request,
            values={str(k): v for k, v in items[start : start + AUDIT_CHUNK]},
        )


# --- expression indexes (PostgreSQL) ----------------------------------------------------------


def index_name(key: str) -> str:
    return f"lead_cf_{key}_idx"


def _index_on_commit(instance: CustomField) -> None:
    key, pk = instance.key, instance.pk

    def apply() -> None:
        _drop_index(key)
        current = CustomField.objects.filter(pk=pk).first()
        if current is not None and current.filterable:
            index_create(current)

    transaction.on_commit(apply)


def index_create(instance: CustomField) -> None:
    """CREATE INDEX CONCURRENTLY on the field's filter expression (seconds at 1M leads; the
    table stays writable meanwhile). Outside any transaction: runs after commit."""
    if connection.vendor != "postgresql" or instance.type not in cf.INDEXED:
        return
    # with the stage second: a board column (one stage, one value) reads only its own rows
    # (0.6 ms instead of 3.7 ms a column for a value on 0.1 % of 1M leads)
    index = Index(cf.filter_expression(instance), F("stage"), name=index_name(instance.key))
    # CONCURRENTLY cannot run inside a transaction (a test's, or a caller's atomic block)
    concurrently = not connection.in_atomic_block
    with connection.schema_editor(atomic=False) as editor:
        editor.execute(index.create_sql(Lead, editor, concurrently=concurrently))


def _drop_index(key: str) -> None:
    if connection.vendor != "postgresql":
        return
    how = "" if connection.in_atomic_block else "CONCURRENTLY "
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {how}IF EXISTS {connection.ops.quote_name(index_name(key))}")
