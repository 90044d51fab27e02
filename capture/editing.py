"""Building a capture form (the marketer's pages): every write to Form, FormField, ConsentText.

Each service runs in one transaction, locks the form row (two marketers editing one form see
each other's changes, never half of them), checks its rules and writes an audit row
(``capture.*``) like every other settings change. A refusal is a ``DomainError`` whose ``field``
names the input at fault; nothing is written then.

Rules kept here, in one place:
- allowed origins are ``scheme://host[:port]`` (http or https), one per line, no path;
- a LIVE form keeps an ``email`` field (type e-mail, required, not progressive): it is what
  makes a lead;
- traits are Segment-style keys (a letter, then letters, digits or ``_``; at most 64), one per
  form, and never a name the submission endpoint reserves (``lf_…``);
- a consent text is never edited: a change adds version + 1 and retires the old version, so
  every ConsentRecord keeps pointing at the words the visitor saw.
"""

import re
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils.translation import gettext as _

from capture.models import ConsentText, FieldKind, Form, FormField, HiddenSource, IpStorage
from leadflow.audit import audit_record
from leadflow.exceptions import DomainError, NotFoundError
from leadflow.models import User
from leads.models import ActivityKind
from privacy.models import Channel

TRAIT_RE: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
CONSENT_KEY_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
RESERVED_PREFIX: Final = "lf_"  # lf_website, lf_token, lf_proof, lf_page, … (the endpoint's own)
EMAIL_TRAIT: Final = "email"
MAX_FIELDS: Final = 50
MAX_CONSENTS: Final = 10
# what a form submission may score as (not the sales team's logged calls, not page views)
FORM_ACTIVITY_KINDS: Final = (
    ActivityKind.FORM_SUBMIT,
    ActivityKind.DOWNLOAD,
    ActivityKind.WEBINAR,
    ActivityKind.TRIAL,
    ActivityKind.MEETING,
    ActivityKind.CUSTOM,
)


@dataclass(frozen=True)
class FormSettings:
    """Everything the settings tab edits (one value object, so create and update agree)."""

    name: str
    status: str = Form.Status.DRAFT
    allowed_origins: str = ""
    submit_label: str = ""
    thank_you_message: str = ""
    redirect_url: str = ""
    activity_kind: str = ActivityKind.FORM_SUBMIT
    double_opt_in: bool = False
    progressive_slots: int = 0
    min_fill_seconds: int = 3
    accepts_plain_posts: bool = False
    ip_storage: str = IpStorage.TRUNCATED


@dataclass(frozen=True)
class FieldSpec:
    trait: str
    kind: str = FieldKind.TEXT
    label: str = ""
    help_text: str = ""
    required: bool = False
    choices: str = ""
    hidden_source: str = ""
    fixed_value: str = ""
    progressive: bool = False


# --- checks (pure) ------------------------------------------------------------------------------


def normalize_origins(text: str) -> str:
    """The allowed-origins text, checked and normalized (lower-case, no trailing slash, no
    duplicates, one per line). Refuses the first bad line, naming it."""
    out: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        origin = _origin_or_none(line)
        if origin is None:
            raise DomainError(
                _(
                    "Line %(number)s (“%(line)s”) is not an origin: write scheme://host[:port] "
                    "with http or https and no path, e.g. https://www.example.com."
                )
                % {"number": number, "line": line[:200]},
                field="allowed_origins",
            )
        if origin not in out:
            out.append(origin)
    return "\n".join(out)


def _origin_or_none(line: str) -> str | None:
    if any(c.isspace() for c in line) or line.count("://") != 1:
        return None
    try:
        parts = urlsplit(line)
        port = parts.port  # ValueError when out of range or not a number
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in ("http", "https") or not host:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or line.endswith(("?", "#")):
        return None
    if not re.fullmatch(r"[a-z0-9.\-]+|\[[0-9a-f:.]+\]", host if ":" not in host else f"[{host}]"):
        return None
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + (f":{port}" if port is not None else "")


def check_redirect_url(url: str) -> str:
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise DomainError(
            _("The redirect must be an http:// or https:// address."), field="redirect_url"
        )
    return url


def _check_settings(s: FormSettings) -> FormSettings:
    name = s.name.strip()
    if not name:
        raise DomainError(_("The form needs a name."), field="name")
    if len(name) > 120:
        raise DomainError(_("At most 120 characters."), field="name")
    if s.status not in Form.Status.values:
        raise DomainError(_("Unknown status “%(v)s”.") % {"v": s.status}, field="status")
    if s.activity_kind not in FORM_ACTIVITY_KINDS:
        raise DomainError(
            _("A form cannot score as “%(v)s”.") % {"v": s.activity_kind}, field="activity_kind"
        )
    if s.ip_storage not in IpStorage.values:
        raise DomainError(_("Unknown choice “%(v)s”.") % {"v": s.ip_storage}, field="ip_storage")
    if not 0 <= s.progressive_slots <= 10:
        raise DomainError(_("Between 0 and 10."), field="progressive_slots")
    if not 0 <= s.min_fill_seconds <= 600:
        raise DomainError(_("Between 0 and 600 seconds."), field="min_fill_seconds")
    if len(s.submit_label) > 60:
        raise DomainError(_("At most 60 characters."), field="submit_label")
    return FormSettings(
        **{
            **s.__dict__,
            "name": name,
            "allowed_origins": normalize_origins(s.allowed_origins),
            "redirect_url": check_redirect_url(s.redirect_url),
            "submit_label": s.submit_label.strip(),
            "thank_you_message": s.thank_you_message.strip(),
        }
    )


def _check_field(spec: FieldSpec) -> FieldSpec:
    trait = spec.trait.strip()
    if not TRAIT_RE.fullmatch(trait):
        raise DomainError(
            _(
                "“%(trait)s” is not a trait name: start with a letter, then letters, digits or "
                "_ (no dots or spaces), at most 64 characters."
            )
            % {"trait": trait[:80]},
            field="trait",
        )
    if trait.lower().startswith(RESERVED_PREFIX):
        raise DomainError(
            _("Trait names starting with “lf_” are reserved for LeadFlow."), field="trait"
        )
    if spec.kind not in FieldKind.values:
        raise DomainError(_("Unknown field type “%(v)s”.") % {"v": spec.kind}, field="kind")
    label = spec.label.strip()
    if not label:
        raise DomainError(_("The field needs a label."), field="label")
    choices = "\n".join(c.strip() for c in spec.choices.splitlines() if c.strip())
    if spec.kind == FieldKind.SELECT and not choices:
        raise DomainError(_("A choice field needs at least one choice."), field="choices")
    hidden_source, fixed_value = spec.hidden_source, spec.fixed_value.strip()
    if spec.kind == FieldKind.HIDDEN:
        if hidden_source not in HiddenSource.values:
            raise DomainError(
                _("A hidden field needs the place its value comes from."), field="hidden_source"
            )
        if hidden_source == HiddenSource.FIXED and not fixed_value:
            raise DomainError(_("Give the fixed value."), field="fixed_value")
    else:
        hidden_source, fixed_value = "", ""
    if trait == EMAIL_TRAIT and spec.kind != FieldKind.EMAIL:
        raise DomainError(_("The email trait must be an E-mail field."), field="kind")
    return FieldSpec(
        trait=trait,
        kind=spec.kind,
        label=label,
        help_text=spec.help_text.strip(),
        required=spec.required and spec.kind != FieldKind.HIDDEN,
        choices=choices if spec.kind == FieldKind.SELECT else "",
        hidden_source=hidden_source,
        fixed_value=fixed_value,
        progressive=spec.progressive and spec.kind != FieldKind.HIDDEN,
    )


def _email_field_problem(form: Form) -> str | None:
    """Why ``form`` may not be live (no usable email field), or None."""
    field = form.fields.filter(trait=EMAIL_TRAIT).first()
    if field is None:
        return _("A live form needs an email field (trait “email”): it is what makes a lead.")
    if field.kind != FieldKind.EMAIL or not field.required or field.progressive:
        return _("A live form's email field must be of type E-mail, required and not progressive.")
    return None


# --- helpers ------------------------------------------------------------------------------------


def _locked_form(form_id: int) -> Form:
    form = Form.objects.select_for_update().filter(pk=form_id).first()
    if form is None:
        raise NotFoundError(_("There is no form with id %(id)s.") % {"id": form_id})
    return form


def _audit(
    action: str,
    form: Form,
    actor: User | None,
    request: HttpRequest | None,
    **details: Any,
) -> None:
    audit_record(
        action=f"capture.{action}",
        actor=actor,
        target_type="capture.form",
        target_id=form.pk,
        details={"form": form.name, **details},
        request=request,
    )


def _field_of(form: Form, field_id: int) -> FormField:
    field = form.fields.filter(pk=field_id).first()
    if field is None:
        raise NotFoundError(_("This form has no field with id %(id)s.") % {"id": field_id})
    return field


def _trait_taken(form: Form, trait: str, *, but: int | None = None) -> None:
    qs = form.fields.filter(trait__iexact=trait)
    if but is not None:
        qs = qs.exclude(pk=but)
    if qs.exists():
        raise DomainError(
            _("This form already has a field for the trait “%(trait)s”.") % {"trait": trait},
            field="trait",
        )


# --- forms --------------------------------------------------------------------------------------


@transaction.atomic
def form_create(
    *, settings: FormSettings, actor: User | None = None, request: HttpRequest | None = None
) -> Form:
    """A new form; a draft unless asked otherwise (a new form has no fields, so it cannot be live)."""
    s = _check_settings(settings)
    form = Form.objects.create(**{**s.__dict__, "status": Form.Status.DRAFT}, created_by=actor)
    if s.status != Form.Status.DRAFT:
        _set_status(form, s.status)
        form.save(update_fields=["status"])
    _audit("form_create", form, actor, request, status=form.status)
    return form


def _set_status(form: Form, status: str) -> None:
    if status == Form.Status.LIVE:
        problem = _email_field_problem(form)
        if problem:
            raise DomainError(problem, field="status")
    form.status = status


@transaction.atomic
def form_update(
    *,
    form_id: int,
    settings: FormSettings,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> Form:
    form = _locked_form(form_id)
    s = _check_settings(settings)
    before = {k: getattr(form, k) for k in s.__dict__}
    for key, value in s.__dict__.items():
        if key != "status":
            setattr(form, key, value)
    _set_status(form, s.status)
    changed = {k: getattr(form, k) for k in s.__dict__ if getattr(form, k) != before[k]}
    if changed:
        form.save(update_fields=[*changed, "updated_at"])
        _audit("form_update", form, actor, request, changed=sorted(changed))
    return form


# --- fields -------------------------------------------------------------------------------------


@transaction.atomic
def field_add(
    *, form_id: int, spec: FieldSpec, actor: User | None = None, request: HttpRequest | None = None
) -> FormField:
    form = _locked_form(form_id)
    s = _check_field(spec)
    _trait_taken(form, s.trait)
    if form.fields.count() >= MAX_FIELDS:
        raise DomainError(_("A form has at most %(n)s fields.") % {"n": MAX_FIELDS}, field="trait")
    last = form.fields.aggregate(m=Max("position"))["m"]
    field = FormField.objects.create(
        form=form, position=0 if last is None else last + 1, **s.__dict__
    )
    _audit("field_add", form, actor, request, trait=field.trait, kind=field.kind)
    return field


@transaction.atomic
def field_update(
    *,
    form_id: int,
    field_id: int,
    spec: FieldSpec,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> FormField:
    form = _locked_form(form_id)
    field = _field_of(form, field_id)
    s = _check_field(spec)
    _trait_taken(form, s.trait, but=field.pk)
    before = {k: getattr(field, k) for k in s.__dict__}
    for key, value in s.__dict__.items():
        setattr(field, key, value)
    changed = [k for k in s.__dict__ if getattr(field, k) != before[k]]
    if not changed:
        return field
    field.save(update_fields=changed)
    if form.status == Form.Status.LIVE:
        problem = _email_field_problem(form)
        if problem:
            at_fault = next(
                (k for k in ("trait", "required", "progressive") if k in changed), "kind"
            )
            raise DomainError(problem, field=at_fault)
    _audit("field_update", form, actor, request, trait=field.trait, changed=changed)
    return field


@transaction.atomic
def field_delete(
    *, form_id: int, field_id: int, actor: User | None = None, request: HttpRequest | None = None
) -> None:
    form = _locked_form(form_id)
    field = _field_of(form, field_id)
    if form.status == Form.Status.LIVE and field.trait == EMAIL_TRAIT:
        raise DomainError(
            _("A live form keeps its email field: it is what makes a lead. Unpublish it first."),
            field="trait",
        )
    trait = field.trait
    field.delete()
    _audit("field_delete", form, actor, request, trait=trait)


@transaction.atomic
def field_reorder(
    *,
    form_id: int,
    field_ids: list[int],
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> None:
    """Put the form's fields in the order of ``field_ids`` (which must name each one once)."""
    form = _locked_form(form_id)
    fields = {f.pk: f for f in form.fields.all()}
    if sorted(field_ids) != sorted(fields):
        raise DomainError(
            _("The new order must list each field of the form once; reload the page."),
            field="order",
        )
    for position, pk in enumerate(field_ids):
        fields[pk].position = position
    FormField.objects.bulk_update(fields.values(), ["position"])
    _audit("field_reorder", form, actor, request, order=[fields[pk].trait for pk in field_ids])


def field_move(
    *,
    form_id: int,
    field_id: int,
    step: int,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> None:
    """Move one field up (step -1) or down (+1); at an end it stays where it is."""
    with transaction.atomic():
        _locked_form(form_id)
        ids = list(FormField.objects.filter(form_id=form_id).values_list("pk", flat=True))
        if field_id not in ids:
            raise NotFoundError(_("This form has no field with id %(id)s.") % {"id": field_id})
        at = ids.index(field_id)
        to = max(0, min(len(ids) - 1, at + step))
        if to == at:
            return
        ids.insert(to, ids.pop(at))
        field_reorder(form_id=form_id, field_ids=ids, actor=actor, request=request)


# --- consent texts ------------------------------------------------------------------------------


def _check_consent(text: str, channel: str) -> str:
    text = text.strip()
    if not text:
        raise DomainError(_("Write the text the visitor agrees to."), field="text")
    if len(text) > 4000:
        raise DomainError(_("At most 4000 characters."), field="text")
    if channel and channel not in Channel.values:
        raise DomainError(_("Unknown channel “%(v)s”.") % {"v": channel}, field="channel")
    return text


@transaction.atomic
def consent_add(
    *,
    form_id: int,
    key: str,
    text: str,
    channel: str = "",
    required: bool = False,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> ConsentText:
    """A new consent checkbox (version 1; or the next version of a key retired earlier)."""
    form = _locked_form(form_id)
    key = key.strip().lower()
    if not CONSENT_KEY_RE.fullmatch(key):
        raise DomainError(
            _(
                "“%(key)s” is not a key: lower-case letters, digits, - or _, at most 40, e.g. "
                "newsletter."
            )
            % {"key": key[:60]},
            field="key",
        )
    text = _check_consent(text, channel)
    versions = form.consent_texts.filter(key=key)
    if versions.filter(retired=False).exists():
        raise DomainError(
            _("This form already has a consent “%(key)s”: change its text instead.") % {"key": key},
            field="key",
        )
    if form.consent_texts.filter(retired=False).count() >= MAX_CONSENTS:
        raise DomainError(
            _("A form has at most %(n)s consent checkboxes.") % {"n": MAX_CONSENTS}, field="key"
        )
    last_version = versions.aggregate(m=Max("version"))["m"] or 0
    last_position = form.consent_texts.aggregate(m=Max("position"))["m"]
    consent = ConsentText.objects.create(
        form=form,
        key=key,
        version=last_version + 1,
        text=text,
        channel=channel,
        required=required,
        position=0 if last_position is None else last_position + 1,
    )
    _audit("consent_add", form, actor, request, key=key, version=consent.version)
    return consent


def _current_consent(form: Form, key: str) -> ConsentText:
    current = form.consent_texts.select_for_update().filter(key=key, retired=False).first()
    if current is None:
        raise NotFoundError(_("This form has no current consent “%(key)s”.") % {"key": key[:60]})
    return current


@transaction.atomic
def consent_change(
    *,
    form_id: int,
    key: str,
    text: str,
    channel: str = "",
    required: bool = False,
    actor: User | None = None,
    request: HttpRequest | None = None,
) -> ConsentText:
    """A changed consent is a new version; the old one is retired, never edited, so consent
    records keep the words the visitor saw. Unchanged input writes nothing."""
    form = _locked_form(form_id)
    current = _current_consent(form, key)
    text = _check_consent(text, channel)
    if (current.text, current.channel, current.required) == (text, channel, required):
        return current
    current.retired = True
    current.save(update_fields=["retired"])  # first: one current version per key (constraint)
    newer = ConsentText.objects.create(
        form=form,
        key=current.key,
        version=current.version + 1,
        text=text,
        channel=channel,
        required=required,
        position=current.position,
    )
    _audit("consent_change", form, actor, request, key=key, version=newer.version)
    return newer


@transaction.atomic
def consent_retire(
    *, form_id: int, key: str, actor: User | None = None, request: HttpRequest | None = None
) -> ConsentText:
    """The checkbox leaves the form; its versions stay (records point at them)."""
    form = _locked_form(form_id)
    current = _current_consent(form, key)
    current.retired = True
    current.save(update_fields=["retired"])
    _audit("consent_retire", form, actor, request, key=key, version=current.version)
    return current
