"""The point-in-time report counts exits from each stage up to a date: an index on the stage
log's (from_stage, changed_at) makes that an index-only range scan. The log belongs to
``leads``; the index is created here because only ``reports`` reads the log this way.

Then fill the rollup for leads that already have a history (a no-op on a fresh database).
"""

from django.db import migrations

INDEX = "reports_stagechange_exit_idx"


def backfill(apps, schema_editor):
    from itertools import groupby

    from reports.milestones import Change, fold
    from reports.services import COLUMNS, LEAD_DIMS, _row

    base = COLUMNS[: len(COLUMNS) - len(LEAD_DIMS)]  # the lead fields arrive in 0004

    StageChange = apps.get_model("leads", "StageChange")
    LeadMilestone = apps.get_model("reports", "LeadMilestone")
    changes = (
        StageChange.objects.order_by("lead_id", "changed_at", "id")
        .values_list("lead_id", "from_stage", "to_stage", "changed_at")
        .iterator(chunk_size=20000)
    )
    batch = []
    for lead_id, rows in groupby(changes, key=lambda c: c[0]):
        m = fold(Change(to, at, frm) for _, frm, to, at in rows)
        batch.append(LeadMilestone(**dict(zip(base, _row(lead_id, m), strict=False))))
        if len(batch) >= 5000:
            LeadMilestone.objects.bulk_create(batch)
            batch = []
    LeadMilestone.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_milestones"),
        ("leads", "0002_lead_deal_value"),
    ]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON leads_stagechange (from_stage, changed_at)",
            f"DROP INDEX IF EXISTS {INDEX}",
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
