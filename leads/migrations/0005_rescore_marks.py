"""Rescoring marks move from a column on the lead to a queue table of their own (see
RescoreMark): leads marked now keep their mark."""

import django.db.models.deletion
from django.db import migrations, models

CARRY_MARKS = """
    INSERT INTO leads_rescoremark (lead_id, marked_at)
    SELECT id, score_dirty_at FROM leads_lead WHERE score_dirty_at IS NOT NULL
"""
RESTORE_MARKS = """
    UPDATE leads_lead SET score_dirty_at = m.at
      FROM (SELECT lead_id, min(marked_at) AS at FROM leads_rescoremark GROUP BY lead_id) m
     WHERE leads_lead.id = m.lead_id
"""


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0004_merge_0003_notes_tasks_0003_privacy"),
    ]

    operations = [
        migrations.CreateModel(
            name="RescoreMark",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("marked_at", models.DateTimeField()),
                (
                    "lead",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rescore_marks",
                        to="leads.lead",
                    ),
                ),
            ],
        ),
        migrations.RunSQL(CARRY_MARKS, RESTORE_MARKS),
        migrations.RemoveIndex(model_name="lead", name="lead_dirty_idx"),
        migrations.RemoveField(model_name="lead", name="score_dirty_at"),
    ]
