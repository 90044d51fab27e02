"""Keep the milestone rollup in step with the stage log, inside the moving transaction."""

from typing import Any

from leadflow import batchscope
from leadflow.models import User
from leads.models import Lead, StageChange
from reports.services import (
    LEAD_DIMS,
    milestone_dims_sync,
    milestones_forget,
    milestones_refresh,
)


def on_stage_changed(
    sender: type[Lead], *, lead: Lead, change: StageChange, actor: User | None, **kwargs: Any
) -> None:
    # in a batch (bulk job) one refresh of all its moved leads at the end, in the same transaction
    if not batchscope.defer("reports.milestones", _refresh_all, lead.pk):
        milestones_refresh(lead_ids=[lead.pk])


def _refresh_all(lead_ids: list[int]) -> None:
    milestones_refresh(lead_ids=lead_ids)


def on_stage_log_rewritten(sender: Any, *, lead_ids: list[int], **kwargs: Any) -> None:
    milestones_refresh(lead_ids=lead_ids)


_DIM_FIELDS = frozenset(name.removesuffix("_id") for name in LEAD_DIMS) | frozenset(LEAD_DIMS)


def on_lead_saved(
    sender: type[Lead], *, instance: Lead, created: bool, update_fields: Any, **kwargs: Any
) -> None:
    """An edit of source/UTM/industry/owner/team/deal value reaches the rollup in its
    transaction. New leads get their row with their first StageChange."""
    if created or (update_fields is not None and not _DIM_FIELDS & set(update_fields)):
        return
    milestone_dims_sync(lead=instance)


def on_lead_deleting(sender: type[Lead], *, instance: Lead, **kwargs: Any) -> None:
    """The rollup row goes by cascade; its MetricDay cells are taken out here first."""
    milestones_forget(lead_ids=[instance.pk])
