"""Keep the milestone rollup in step with the stage log, inside the moving transaction."""

from typing import Any

from leadflow.models import User
from leads.models import Lead, StageChange
from reports.services import milestones_refresh


def on_stage_changed(
    sender: type[Lead], *, lead: Lead, change: StageChange, actor: User | None, **kwargs: Any
) -> None:
    milestones_refresh(lead_ids=[lead.pk])
