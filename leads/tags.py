"""Tags: free labels on leads. One place for the rules the lead page, bulk tagging, the filters,
the API and Settings › Tags share: what a tag name may be, how a new tag gets its colour, and
that tagging and untagging are audited."""

import zlib
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from leadflow.audit import audit_record
from leadflow.models import User
from leads.models import Lead, Tag, TagColour
from leads.services import LeadNotFoundError, leads_mark_for_rescore

TAG_MAX_LENGTH = 50
TAG_NAMES_OFFERED = 500  # the names a tag box or filter offers (a datalist, a select)
# new tags take a colour from their name, so "webinar" looks the same wherever it is made
_PALETTE = [c for c in TagColour.values if c != TagColour.GREY]


def clean_tag_name(value: object, *, field: str = "tag") -> str:
    """A tag name with its spaces collapsed, or ValidationError naming ``field`` and why."""
    name = " ".join(str(value or "").split())
    if not name:
        raise ValidationError({field: _("Type a tag name.")})
    if len(name) > TAG_MAX_LENGTH:
        raise ValidationError(
            {field: _("Keep tag names to %(most)d characters.") % {"most": TAG_MAX_LENGTH}}
        )
    if any(not ch.isprintable() for ch in name):
        raise ValidationError({field: _("A tag name cannot hold control characters.")})
    return name


def tag_names() -> list[str]:
    """The tag names the lead page, the filters and the bulk bar offer, alphabetically."""
    return list(Tag.objects.values_list("name", flat=True)[:TAG_NAMES_OFFERED])


def tag_find(name: str) -> Tag | None:
    return Tag.objects.filter(name__iexact=name).first()


def tag_get_or_create(name: str) -> Tag:
    """The tag called ``name`` whatever its case, made if new (two people making the same new
    tag at once get the one tag: the unique index decides, the loser reads the winner's)."""
    name = clean_tag_name(name)
    found = tag_find(name)
    if found is not None:
        return found
    colour = _PALETTE[zlib.crc32(name.lower().encode()) % len(_PALETTE)]
    try:
        with transaction.atomic():
            return Tag.objects.create(name=name, colour=colour)
    except IntegrityError:
        found = tag_find(name)
        if found is None:
            raise
        return found


@transaction.atomic
def lead_tag(*, lead_id: int, name: str, actor: User | None, request: Any = None) -> bool:
    """Put the tag ``name`` on the lead (made if new); False when it was already there."""
    tag = tag_get_or_create(name)
    lead = Lead.objects.filter(pk=lead_id).first()
    if lead is None:
        raise LeadNotFoundError(
            _("There is no lead with id %(id)s.") % {"id": lead_id}, field="lead"
        )
    through = Lead.tags.through
    _row, created = through.objects.get_or_create(lead_id=lead_id, tag_id=tag.pk)
    if created:
        _audit("lead.tag", lead_id, tag, actor, request)
        leads_mark_for_rescore([lead_id])  # fit rules may read the tags
    return bool(created)


@transaction.atomic
def lead_untag(*, lead_id: int, name: str, actor: User | None, request: Any = None) -> bool:
    """Take the tag ``name`` off the lead; False when it did not have it."""
    tag = tag_find(clean_tag_name(name))
    if tag is None:
        return False
    removed, _per_model = Lead.tags.through.objects.filter(lead_id=lead_id, tag_id=tag.pk).delete()
    if removed:
        _audit("lead.untag", lead_id, tag, actor, request)
        leads_mark_for_rescore([lead_id])  # fit rules may read the tags
    return bool(removed)


def tag_leads(tag_id: int) -> list[int]:
    """The leads that have the tag: a rename or deletion changes what scoring reads on them
    (Settings › Tags marks them for rescore, ``leads_mark_for_rescore``)."""
    return list(Lead.tags.through.objects.filter(tag_id=tag_id).values_list("lead_id", flat=True))


def _audit(action: str, lead_id: int, tag: Tag, actor: User | None, request: Any) -> None:
    audit_record(
        action=action,
        actor=actor,
        target_type="lead",
        target_id=lead_id,
        details={"tag": tag.name},
        request=request,
    )
