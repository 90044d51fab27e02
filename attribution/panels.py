"""The lead page's "Touches" panel (registered in ``AttributionConfig.ready`` through
``leads.extensions.register_lead_panel``): how the lead found us, oldest first, with channels."""

from typing import Final

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from attribution.channels import Grouping
from attribution.models import Touch
from attribution.touches import Kind
from leads.extensions import LeadPanel
from leads.models import Lead

TEMPLATE: Final = "attribution/_lead_panel.html"
LIMIT: Final = 30
KIND_LABELS: Final = {
    Kind.CREATED: _("Became a lead"),
    Kind.CAMPAIGN: _("Campaign visit"),
    Kind.EMAIL: _("E-mail click"),
    Kind.FORM: _("Form"),
    Kind.REFERRAL: _("Referred by a site"),
}


def lead_touches_panel(request: HttpRequest, lead: Lead) -> LeadPanel | None:
    if not request.user.has_perm("leads.view_activity"):
        return None
    touches = list(Touch.objects.filter(lead=lead).order_by("occurred_at", "id")[: LIMIT + 1])
    grouping = Grouping()
    return LeadPanel(
        TEMPLATE,
        {
            "touches": [
                {
                    "at": t.occurred_at,
                    "kind": KIND_LABELS.get(t.kind, t.kind),
                    "channel": grouping.channel((t.source, t.medium, t.campaign)),
                    "tags": " / ".join(v for v in (t.source, t.medium, t.campaign) if v),
                }
                for t in touches[:LIMIT]
            ],
            "more": len(touches) > LIMIT,
        },
    )
