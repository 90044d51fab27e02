"""Where a scoring dry run's new MQLs would go, without assigning anyone.

``RoutingPreview`` is ``services.assignment_pick`` without its writes: the same rule order,
territory match, account-owner-first, availability, capacity caps and rotation
(``services.member_choose``), with the period counts and the rotation advanced in memory as it
routes the leads in id order. ``dry_run_route`` routes a dry run's entering leads and sums up
each rep's inbox load and SLA exposure (``docs/scoring.md``, "Dry run").
"""

import math
from collections import Counter, defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, Final

from django.db.models import Count

from handover import services, sla
from handover.models import AssignmentMember, AssignmentRule, Handover
from leadflow.batchscope import batch_scope
from leadflow.models import User
from leads.lifecycle import Stage
from leads.models import Lead
from scoring.models import DryRunLead

CHUNK: Final = 2000
PACE_DAYS: Final = 30  # a rep's acceptance pace: handovers accepted over the last 30 days


class RoutingPreview:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.rules = list(AssignmentRule.objects.filter(active=True).order_by("position", "id"))
        self._members: dict[int, list[AssignmentMember]] = {}
        self._counts: dict[str, Counter[int]] = {}  # capacity period → owner → assignments
        self._tick = 0

    def pick(self, lead: Lead) -> services.Pick:
        for rule in self.rules:
            if not services.rule_matches(rule, lead):
                continue
            if rule.account_owner_first and (
                by_account := services.account_pick(rule, lead, self.now, ())
            ):
                return by_account
            members = self._members.get(rule.pk)
            if members is None:
                members = self._members[rule.pk] = list(rule.members.filter(active=True))
            free = services.reps_available(
                {m.user_id for m in members}, self.now, rule.require_working_hours
            )
            counts = self._period_counts(rule, [m.user_id for m in members])
            chosen = services.member_choose(rule, members, free, counts, self.now)
            if chosen is None:
                return services.rule_fallback(rule)
            counts[chosen.user_id] += 1
            self._tick += 1  # later than every earlier pick, as the real assignments would be
            chosen.last_assigned_at = self.now + timedelta(microseconds=self._tick)
            return services.Pick(chosen.user_id, rule.team_id, rule, services.Pick.MEMBER)
        return services.Pick(None, None, None, services.Pick.QUEUE)

    def _period_counts(self, rule: AssignmentRule, users: Collection[int]) -> Counter[int]:
        # one count per owner and period, shared by the rules on the same period (as the real
        # count reads every assignment of the owner in it)
        counts = self._counts.setdefault(rule.capacity_period, Counter())
        missing = [u for u in users if u not in counts]
        if missing:
            counts.update(services.period_counts(rule, missing, self.now))
            for u in missing:
                counts.setdefault(u, 0)
        return counts


def dry_run_route(*, run_id: int, now: datetime) -> dict[str, Any]:
    """Route the run's entering leads (``DryRunLead.owner_id``/``team_id``) and return the
    routing summary: per rep the open inbox, what would arrive and the SLA exposure."""
    ids = list(
        DryRunLead.objects.filter(run_id=run_id, move=DryRunLead.Move.ENTER)
        .order_by("lead_id")
        .values_list("pk", flat=True)
    )
    preview = RoutingPreview(now)
    fields = ("id", "owner_id", "team_id", "country", "industry", "company_size")
    with batch_scope(defer=False):  # rules, absences and profiles read once
        for start in range(0, len(ids), CHUNK):
            rows = list(DryRunLead.objects.filter(pk__in=ids[start : start + CHUNK]))
            rows.sort(key=lambda row: row.lead_id)
            leads = Lead.objects.only(*fields).in_bulk([row.lead_id for row in rows])
            routes: dict[tuple[int | None, int | None], list[int]] = defaultdict(list)
            for row in rows:
                lead = leads.get(row.lead_id)
                if lead is None:
                    continue
                pick = preview.pick(lead)
                # as handover_open: no pick keeps the lead's own owner and team
                owner = pick.owner_id if pick.owner_id is not None else lead.owner_id
                team = pick.team_id if pick.team_id is not None else lead.team_id
                routes[owner, team].append(row.pk)
            # one UPDATE per destination: bulk_update's CASE over 2,000 ids made routing 18,266
            # leads take 14.3 s; this way 2.2–2.7 s (docs/benchmarks.md)
            for (owner, team), pks in routes.items():
                DryRunLead.objects.filter(pk__in=pks).update(
                    owner_id=owner, team_id=team, routed=True
                )
    return routing_summary(run_id=run_id, now=now)


def routing_summary(*, run_id: int, now: datetime) -> dict[str, Any]:
    """Per rep who would get new MQLs: handovers open in their inbox now, those that would
    arrive, and how many of the new ones they would not accept before the SLA deadline at their
    pace (handovers accepted per day over the last 30 days). New MQLs routed to no one wait in
    a team queue and all count as exposed."""
    routed = DryRunLead.objects.filter(run_id=run_id, move=DryRunLead.Move.ENTER, routed=True)
    arriving: dict[int | None, int] = dict(
        routed.filter(owner_id__isnull=False)
        .values("owner_id")
        .annotate(n=Count("pk"))
        .values_list("owner_id", "n")
    )
    queued = routed.filter(owner_id__isnull=True).count()
    reps = [rep for rep in arriving if rep is not None]
    open_now = dict(
        Handover.objects.filter(status=Handover.Status.OPEN, owner_id__in=reps)
        .values("owner_id")
        .annotate(n=Count("pk"))
        .values_list("owner_id", "n")
    )
    accepted = dict(
        Handover.objects.filter(
            status=Handover.Status.ACCEPTED,
            owner_id__in=reps,
            decided_at__gte=now - timedelta(days=PACE_DAYS),
            decided_at__lte=now,
        )
        .values("owner_id")
        .annotate(n=Count("pk"))
        .values_list("owner_id", "n")
    )
    clock = sla.deadline(Stage.MQL, now)
    days_to_due = (clock[1] - now).total_seconds() / 86400 if clock else None
    names = {u.pk: u.get_full_name() or u.username for u in User.objects.filter(pk__in=reps)}
    rows = []
    for rep in reps:
        new, inbox = arriving[rep], open_now.get(rep, 0)
        pace = accepted.get(rep, 0) / PACE_DAYS
        exposed = None
        if days_to_due is not None:
            # what they would get to by the deadline goes to the inbox in order: the open
            # handovers first, then the new ones
            reach = math.floor(pace * days_to_due)
            exposed = min(new, max(0, inbox + new - reach))
        rows.append(
            {
                "owner_id": rep,
                "name": names.get(rep, f"#{rep}"),
                "open_now": inbox,
                "would_open": new,
                "inbox_after": inbox + new,
                "accepted_per_day": round(pace, 2),
                "sla_exposed": exposed,
            }
        )
    rows.sort(key=lambda r: (-r["inbox_after"], r["name"]))
    return {
        "policy": clock[0].name if clock else None,
        "due_at": clock[1].isoformat() if clock else None,
        "reps": rows,
        "queue": queued,
        "sla_exposed": None if clock is None else queued + sum(r["sla_exposed"] for r in rows),
    }
