"""What happens to accounts, for whoever reacts (``handover`` opens account handovers and writes
webhook events). Sent inside the transaction of the change, as ``leads.events`` are, so the
reactions commit or roll back with it."""

from django.dispatch import Signal

# An account's score reached the MQA threshold while armed (``scoring.services``).
# kwargs: account_id, score, grade, reason (text), now
account_qualified = Signal()

# Leads became current members of accounts (a link, a domain match, a group call, an import).
# kwargs: pairs (list of (account_id, lead_id) written at ``now`` from ``source``; a bulk match
# may list a lead a concurrent link took first: its current membership row says), source, now
members_added = Signal()

# ``duplicate_id`` is about to be folded into ``survivor_id`` and deleted (``account_merge``).
# kwargs: survivor_id, duplicate_id, now
account_merging = Signal()
