"""Extension points: apps above ``leads`` add to them without ``leads`` importing those apps
(the layering runs ``reports → handover → scoring → leads``, ``privacy → handover``).

- Browser pages: timeline entries and board-card badges (below), and the selection bar of the
  list and the board (``bulk`` registers its action bar).
- Board cards' company line: ``register_card_accounts`` (the lead's account, from ``companies``).
- The lead page's side panels: ``register_lead_panel`` (``companies`` registers its "Account"
  panel; ``leads`` never imports ``companies``).
- The merge of two identified leads: ``privacy`` registers its ``lead_merge`` (every row
  re-pointed, audited, a MergeRecord), which Segment ``alias`` ingestion calls.

``handover`` registers SLA badges for board cards and its notifications for the lead timeline in
its ``AppConfig.ready``; ``scoring`` may do the same. Each callable is given ids/leads in bulk and
must run a constant number of queries (the board calls it once per column page).
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.http import HttpRequest, QueryDict
from django.utils.translation import gettext as _

from leadflow.exceptions import DomainError
from leadflow.models import ApiKey, User
from leads.models import Lead

if TYPE_CHECKING:  # leads.ingest imports this module
    from leads.ingest import ItemError, Message


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # css-friendly word: activity, stage, note, task, notification, ...
    title: str
    detail: str = ""
    actor: str = ""


@dataclass(frozen=True)
class CardBadge:
    label: str  # e.g. "SLA 2h 10m", "SLA breached"
    tone: str  # ok | warn | breach
    title: str  # longer text for the tooltip / screen readers
    due_at: datetime | None = None


TimelineSource = Callable[[Lead], Iterable[TimelineEntry]]
BadgeSource = Callable[[Sequence[int]], Mapping[int, CardBadge]]

_timeline_sources: list[TimelineSource] = []
_badge_sources: list[BadgeSource] = []


def register_timeline_source(source: TimelineSource) -> None:
    if source not in _timeline_sources:
        _timeline_sources.append(source)


def register_card_badges(source: BadgeSource) -> None:
    if source not in _badge_sources:
        _badge_sources.append(source)


def timeline_entries(lead: Lead) -> list[TimelineEntry]:
    return [entry for source in _timeline_sources for entry in source(lead)]


def card_badges(lead_ids: Sequence[int]) -> dict[int, CardBadge]:
    badges: dict[int, CardBadge] = {}
    for source in _badge_sources:
        for lead_id, badge in source(lead_ids).items():
            badges.setdefault(lead_id, badge)
    return badges


# A panel of the lead page's side column: (request, lead) -> the template to include and its
# context, or None to show nothing (e.g. the reader lacks the permission). Rendered in the order
# registered, with the lead page's own context around it (csrf_token, perms, lead).
@dataclass(frozen=True)
class LeadPanel:
    template: str
    context: Mapping[str, Any]


LeadPanelSource = Callable[[HttpRequest, Lead], "LeadPanel | None"]
_lead_panels: list[LeadPanelSource] = []


def register_lead_panel(source: LeadPanelSource) -> None:
    if source not in _lead_panels:
        _lead_panels.append(source)


def lead_panels(*, request: HttpRequest, lead: Lead) -> list[LeadPanel]:
    return [panel for source in _lead_panels if (panel := source(request, lead)) is not None]


@dataclass(frozen=True)
class CardAccount:
    name: str
    url: str


# Board cards' company line: lead ids -> the account each belongs to (``companies``), shown
# instead of the lead's company text. One source; a constant number of queries per call.
CardAccountSource = Callable[[Sequence[int]], Mapping[int, CardAccount]]
_card_accounts: list[CardAccountSource] = []


def register_card_accounts(source: CardAccountSource) -> None:
    _card_accounts[:] = [source]


def card_accounts(lead_ids: Sequence[int]) -> dict[int, CardAccount]:
    return dict(_card_accounts[0](lead_ids)) if _card_accounts and lead_ids else {}


LeadMerge = Callable[[int, int], None]  # (survivor id, duplicate id), in the caller's transaction
_lead_merges: list[LeadMerge] = []


def register_lead_merge(merge: LeadMerge) -> None:
    _lead_merges[:] = [merge]


def lead_merge(*, survivor_id: int, duplicate_id: int) -> None:
    """Fold lead ``duplicate_id`` into ``survivor_id`` with the registered merge service."""
    if not _lead_merges:  # pragma: no cover  (privacy is always installed)
        raise DomainError(_("No lead merge service is installed."), field="previousId")
    _lead_merges[0](survivor_id, duplicate_id)


# The list's and the board's selection bar: (user, page's query, what "all matching" would be —
# None for invalid filters, or on the board, which never waits for a count) -> template context,
# with ``selection_bar`` naming the template.
SelectionBar = Callable[[User, QueryDict, "QuerySet[Lead] | None"], Mapping[str, Any]]
_selection_bars: list[SelectionBar] = []


def register_selection_bar(source: SelectionBar) -> None:
    _selection_bars[:] = [source]


def selection_bar(
    *, user: User, params: QueryDict, matching: "QuerySet[Lead] | None"
) -> dict[str, Any]:
    return dict(_selection_bars[0](user, params, matching)) if _selection_bars else {}


# A browser's (public key's) messages, before ingestion: (key, messages) -> {message index:
# ItemError} for the ones to refuse (each is reported, never dropped). ``capture`` registers the
# tracking-consent gate (it reads privacy's consent history, which ``leads`` may not import).
BrowserGate = Callable[[ApiKey, Sequence["Message"]], Mapping[int, "ItemError"]]
_browser_gates: list[BrowserGate] = []


def register_browser_gate(gate: BrowserGate) -> None:
    if gate not in _browser_gates:
        _browser_gates.append(gate)


def browser_refusals(*, key: ApiKey, messages: Sequence["Message"]) -> dict[int, "ItemError"]:
    refused: dict[int, ItemError] = {}
    for gate in _browser_gates:
        for index, error in gate(key, messages).items():
            refused.setdefault(index, error)
    return refused
