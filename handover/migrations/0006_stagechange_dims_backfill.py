"""Backfill the owner, team and source of every earlier stage change ("as it was then").

Known history: the handover assignments (who owned each handover from when, and its team). A
change at or after a lead's first recorded assignment takes the latest assignment's owner and
its handover's team; any other change takes the lead's current values (nothing older was
recorded: source edits and owner edits outside handovers were not logged). New changes record
their values as they are written (``leads.events.stage_change_recorded``).
"""

from django.db import migrations

CURRENT = """
UPDATE leads_stagechange SET lead_source = l.source, owner_id = l.owner_id, team_id = l.team_id
FROM leads_lead l WHERE l.id = leads_stagechange.lead_id
"""

_LATEST = """
(SELECT {column} FROM handover_handoverassignment a
   JOIN handover_handover h ON h.id = a.handover_id
  WHERE h.lead_id = leads_stagechange.lead_id AND a.at <= leads_stagechange.changed_at
  ORDER BY a.at DESC, a.id DESC LIMIT 1)
"""
ASSIGNED = f"""
UPDATE leads_stagechange SET
  owner_id = {_LATEST.format(column="a.owner_id")},
  team_id = COALESCE({_LATEST.format(column="h.team_id")}, team_id)
WHERE lead_id IN (SELECT h.lead_id FROM handover_handover h
                   JOIN handover_handoverassignment a ON a.handover_id = h.id)
  AND EXISTS (SELECT 1 FROM handover_handoverassignment a
                JOIN handover_handover h ON h.id = a.handover_id
               WHERE h.lead_id = leads_stagechange.lead_id
                 AND a.at <= leads_stagechange.changed_at)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("handover", "0005_account_handover"),
        ("leads", "0020_stagechange_dims"),
    ]

    operations = [
        migrations.RunSQL(CURRENT, migrations.RunSQL.noop),
        migrations.RunSQL(ASSIGNED, migrations.RunSQL.noop),
    ]
