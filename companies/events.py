"""What happens to accounts, for whoever reacts (``handover`` opens account handovers and writes
webhook events). Sent inside the transaction of the change, as ``leads.events`` are, so the
reactions commit or roll back with it."""

from dataclasses import dataclass

from django.dispatch import Signal


@dataclass(frozen=True)
class QualifiedAccount:
    account_id: int
    score: int
    grade: str
    reason: str  # why, as text: "account score 95 reached 80 (scoring model v3)"


# Accounts' scores reached the MQA threshold while armed, in one sweep batch (``scoring.services``).
# kwargs: accounts (list of QualifiedAccount, by account id), now
accounts_qualified = Signal()

# Leads became current members of accounts (a link, a domain match, a group call, an import).
# kwargs: pairs (list of (account_id, lead_id) written at ``now`` from ``source``; a bulk match
# may list a lead a concurrent link took first: its current membership row says), source, now
members_added = Signal()

# ``duplicate_id`` is about to be folded into ``survivor_id`` and deleted (``account_merge``).
# kwargs: survivor_id, duplicate_id, now
account_merging = Signal()
