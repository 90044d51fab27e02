"""capture.editing: the rules of building a form, each refusal naming its field, nothing
half-written, consent texts versioned (never edited), every write audited."""

import pytest

from capture import editing
from capture.editing import FieldSpec, FormSettings
from capture.models import ConsentText, Form, FormField
from leadflow.exceptions import DomainError
from leadflow.models import AuditEvent

pytestmark = pytest.mark.django_db

EMAIL = FieldSpec(trait="email", kind="email", label="E-mail", required=True)


def _form(**kw) -> Form:
    return editing.form_create(settings=FormSettings(name="Newsletter", **kw))


def _settings(form: Form, **kw) -> FormSettings:
    values = {k: getattr(form, k) for k in FormSettings.__dataclass_fields__}
    return FormSettings(**{**values, **kw})


def test_create_normalizes_origins_and_audits():
    form = _form(allowed_origins="HTTPS://www.Example.com/\n\n http://localhost:8001 \n")
    assert form.allowed_origins == "https://www.example.com\nhttp://localhost:8001"
    assert form.status == Form.Status.DRAFT
    assert AuditEvent.objects.filter(action="capture.form_create", target_id=str(form.pk)).exists()


@pytest.mark.parametrize(
    "line",
    [
        "www.example.com",
        "ftp://example.com",
        "https://example.com/path",
        "https://example.com?x=1",
        "https://user@example.com",
        "https://example.com:99999",
        "javascript://alert(1)",
        "https://exa mple.com",
    ],
)
def test_a_bad_origin_line_is_refused_naming_it(line):
    with pytest.raises(DomainError) as exc:
        _form(allowed_origins=f"https://ok.example\n{line}")
    assert exc.value.field == "allowed_origins"
    assert "Line 2" in exc.value.message
    assert line.strip()[:20] in exc.value.message
    assert not Form.objects.exists()


def test_redirect_must_be_http():
    with pytest.raises(DomainError) as exc:
        _form(redirect_url="javascript:alert(1)")
    assert exc.value.field == "redirect_url"


def test_publishing_needs_an_email_field():
    form = _form()
    editing.field_add(form_id=form.pk, spec=FieldSpec(trait="company", label="Company"))
    with pytest.raises(DomainError) as exc:
        editing.form_update(form_id=form.pk, settings=_settings(form, status="live", name="X"))
    assert exc.value.field == "status"
    assert "email" in exc.value.message
    form.refresh_from_db()
    assert (form.status, form.name) == ("draft", "Newsletter")  # nothing half-written
    editing.field_add(form_id=form.pk, spec=EMAIL)
    editing.form_update(form_id=form.pk, settings=_settings(form, status="live"))
    form.refresh_from_db()
    assert form.status == "live"


def test_a_live_form_keeps_its_email_field():
    form = _form()
    email = editing.field_add(form_id=form.pk, spec=EMAIL)
    editing.form_update(form_id=form.pk, settings=_settings(form, status="live"))
    with pytest.raises(DomainError) as exc:
        editing.field_delete(form_id=form.pk, field_id=email.pk)
    assert exc.value.field == "trait"
    with pytest.raises(DomainError) as exc:
        editing.field_update(
            form_id=form.pk,
            field_id=email.pk,
            spec=FieldSpec(**{**EMAIL.__dict__, "required": False}),
        )
    assert exc.value.field == "required"
    email.refresh_from_db()
    assert email.required


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (FieldSpec(trait="first.name", label="x"), "trait"),
        (FieldSpec(trait="1abc", label="x"), "trait"),
        (FieldSpec(trait="a" * 65, label="x"), "trait"),
        (FieldSpec(trait="lf_website", label="x"), "trait"),
        (FieldSpec(trait="plan", kind="select", label="Plan"), "choices"),
        (FieldSpec(trait="utm", kind="hidden", label="UTM"), "hidden_source"),
        (FieldSpec(trait="camp", kind="hidden", label="C", hidden_source="fixed"), "fixed_value"),
        (FieldSpec(trait="company", label="  "), "label"),
        (FieldSpec(trait="email", kind="text", label="E-mail"), "kind"),
    ],
)
def test_field_rules(spec, field):
    form = _form()
    with pytest.raises(DomainError) as exc:
        editing.field_add(form_id=form.pk, spec=spec)
    assert exc.value.field == field
    assert not FormField.objects.exists()


def test_duplicate_trait_refused_and_reorder():
    form = _form()
    a = editing.field_add(form_id=form.pk, spec=EMAIL)
    b = editing.field_add(form_id=form.pk, spec=FieldSpec(trait="company", label="Company"))
    with pytest.raises(DomainError) as exc:
        editing.field_add(form_id=form.pk, spec=FieldSpec(trait="Company", label="Again"))
    assert exc.value.field == "trait"
    editing.field_move(form_id=form.pk, field_id=b.pk, step=-1)
    assert list(form.fields.values_list("pk", flat=True)) == [b.pk, a.pk]
    with pytest.raises(DomainError):
        editing.field_reorder(form_id=form.pk, field_ids=[a.pk])


def test_changing_a_consent_text_adds_a_version_and_retires_the_old_one():
    form = _form()
    v1 = editing.consent_add(
        form_id=form.pk, key="newsletter", text="Send me news.", channel="email"
    )
    v2 = editing.consent_change(
        form_id=form.pk, key="newsletter", text="Send me monthly news.", channel="email"
    )
    assert (v2.version, v2.retired, v2.text) == (2, False, "Send me monthly news.")
    old = ConsentText.objects.get(pk=v1.pk)
    assert (old.version, old.retired, old.text) == (1, True, "Send me news.")  # never edited
    same = editing.consent_change(
        form_id=form.pk, key="newsletter", text="Send me monthly news.", channel="email"
    )
    assert same.pk == v2.pk  # unchanged input adds nothing
    assert ConsentText.objects.count() == 2
    with pytest.raises(DomainError) as exc:
        editing.consent_add(form_id=form.pk, key="newsletter", text="Again")
    assert exc.value.field == "key"
    editing.consent_retire(form_id=form.pk, key="newsletter")
    assert not ConsentText.objects.filter(retired=False).exists()
    v3 = editing.consent_add(form_id=form.pk, key="newsletter", text="Back again.")
    assert v3.version == 3
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"capture.consent_add", "capture.consent_change", "capture.consent_retire"} <= actions


def test_consent_key_and_text_checked():
    form = _form()
    with pytest.raises(DomainError) as exc:
        editing.consent_add(form_id=form.pk, key="News Letter", text="x")
    assert exc.value.field == "key"
    with pytest.raises(DomainError) as exc:
        editing.consent_add(form_id=form.pk, key="news", text="   ")
    assert exc.value.field == "text"
