"""Capture forms for tests, built through the ORM (shared by every capture test module).

``make_form(origins=["https://shop.example"], fields=[...], consents=[...], **form_fields)``:
a live form. ``fields``: dicts of FormField attributes (``trait`` required; ``label`` defaults
to the trait) or bare trait names; by default an e-mail (required) and a first name.
``consents``: dicts of ConsentText attributes (``key`` required; version 1, text "I agree to
<key>." by default).
"""

from collections.abc import Iterable, Mapping
from typing import Any

from capture import challenge
from capture.models import ConsentText, FieldKind, Form, FormField

DEFAULT_ORIGIN = "https://shop.example"
DEFAULT_FIELDS: list[dict[str, Any]] = [
    {"trait": "email", "kind": FieldKind.EMAIL, "label": "E-mail", "required": True},
    {"trait": "firstName", "label": "First name"},
]


def make_form(
    *,
    origins: Iterable[str] = (DEFAULT_ORIGIN,),
    fields: Iterable[Mapping[str, Any] | str] | None = None,
    consents: Iterable[Mapping[str, Any]] = (),
    **kw: Any,
) -> Form:
    kw.setdefault("name", "Newsletter")
    kw.setdefault("status", Form.Status.LIVE)
    kw.setdefault("min_fill_seconds", 0)
    form = Form.objects.create(allowed_origins="\n".join(origins), **kw)
    for position, spec in enumerate(DEFAULT_FIELDS if fields is None else fields):
        attrs: dict[str, Any] = {"trait": spec} if isinstance(spec, str) else dict(spec)
        attrs.setdefault("label", attrs["trait"])
        attrs.setdefault("position", position)
        FormField.objects.create(form=form, **attrs)
    for position, spec in enumerate(consents):
        attrs = dict[str, Any](spec)
        attrs.setdefault("version", 1)
        attrs.setdefault("text", f"I agree to {attrs['key']}.")
        attrs.setdefault("position", position)
        ConsentText.objects.create(form=form, **attrs)
    return form


def solved_challenge(form: Form, *, now: float | None = None) -> dict[str, str]:
    """``lf_token`` + ``lf_proof`` as the script embed sends them (``now``: issue time)."""
    issued = challenge.issue(form.public_id, now=now)
    token = str(issued["token"])
    return {"lf_token": token, "lf_proof": challenge.solve(token, int(str(issued["difficulty"])))}
