"""Reads for capture: what a visitor is shown (progressive profiling) and which consents apply."""

import time

from django.conf import settings
from django.db.models import Prefetch, Q

from capture.models import ConsentText, Form, FormField
from leads.ingest import TRAIT_COLUMNS
from leads.models import Identity, Lead

_CURRENT = "current_consent_texts"
_LIVE: dict[str, tuple[float, Form | None]] = {}
_LIVE_MAX = 1000  # public ids kept per process (unknown ids too); past it the cache starts over


def current_consents(form: Form) -> list[ConsentText]:
    """The consent texts a visitor sees now: the one version of each key that is not retired."""
    prefetched = getattr(form, _CURRENT, None)
    if prefetched is not None:
        return list(prefetched)
    return list(form.consent_texts.filter(retired=False).order_by("position", "key"))


def live_form(public_id: str) -> Form | None:
    """The LIVE form a visitor may see (draft, archived and unknown look the same), with its
    fields and current consent texts. Each web process keeps it for
    ``LEADFLOW_CAPTURE_FORM_CACHE_SECONDS`` (5 s), as it keeps API keys: a submission then costs
    no form query, and a marketer's change reaches visitors within that delay (docs/capture.md)."""
    ttl = settings.LEADFLOW_CAPTURE_FORM_CACHE_SECONDS
    now = time.monotonic()
    kept = _LIVE.get(public_id)
    if kept is not None and now - kept[0] < ttl:
        return kept[1]
    form = (
        Form.objects.filter(public_id=public_id, status=Form.Status.LIVE)
        .prefetch_related(
            "fields",
            Prefetch(
                "consent_texts",
                queryset=ConsentText.objects.filter(retired=False).order_by("position", "key"),
                to_attr=_CURRENT,
            ),
        )
        .first()
    )
    if ttl > 0:
        if len(_LIVE) >= _LIVE_MAX:
            _LIVE.clear()
        _LIVE[public_id] = (now, form)
    return form


def lead_for_anonymous_id(anonymous_id: str | None) -> Lead | None:
    """The lead an analytics anonymous id names (an identified lead, or an anonymous visitor)."""
    if not anonymous_id:
        return None
    return Lead.objects.filter(
        Q(identities__kind=Identity.Kind.ANONYMOUS_ID, identities__value=anonymous_id)
    ).first()


def lead_has_value(lead: Lead, trait: str) -> bool:
    """Whether ``lead`` already holds an answer for ``trait`` (a column or a stored trait)."""
    column = TRAIT_COLUMNS.get(trait)
    if column is not None:
        return getattr(lead, column) not in ("", None)
    if trait == "company":
        return bool(lead.company)
    return (lead.traits or {}).get(trait) not in ("", None)


def fields_for_visitor(form: Form, anonymous_id: str | None = None) -> list[FormField]:
    """The fields to show this visitor, in order: every non-progressive field, then up to
    ``form.progressive_slots`` progressive ones: for a known visitor (a lead found by the
    anonymous id) those whose trait the lead holds no value for yet, for an unknown visitor the
    first ones. ``progressive_slots`` = 0 turns profiling off: every field is shown."""
    fields = list(form.fields.all())
    if form.progressive_slots == 0:
        return fields
    lead = lead_for_anonymous_id(anonymous_id)
    slots = form.progressive_slots
    shown: list[FormField] = []
    for field in fields:
        if not field.progressive:
            shown.append(field)
        elif slots > 0 and (lead is None or not lead_has_value(lead, field.trait)):
            shown.append(field)
            slots -= 1
    return shown
