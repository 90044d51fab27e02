from django.db import migrations, models

from leads import rank

# Scores out of the leads table's indexes (issue 22 item 3): the board's (stage, score) order
# moves to leads_leadrank, kept by triggers (leads/rank.py); leads_lead keeps a plain stage
# index. With no index naming a score column, a rescore updates lead rows in place (HOT) and
# writes no index entry; fillfactor 90 leaves each page room for that. Existing pages keep
# their fill until rewritten (docs/operations.md, "Lead rank rows").

BOARD = models.Index(fields=["stage", "-score", "-id"], name="lead_board_idx")
STAGE = models.Index(fields=["stage"], name="lead_stage_idx")
RANK = models.Index(fields=["stage", "-score", "-lead"], name="lead_rank_board_idx")
RANK_SCORE = models.Index(fields=["-score", "-lead"], name="lead_rank_score_idx")


def _options(schema_editor):
    # CREATE / DROP INDEX CONCURRENTLY on PostgreSQL: the leads table takes writes meanwhile
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


def forward(apps, schema_editor):
    connection = schema_editor.connection
    Lead, LeadRank = apps.get_model("leads", "Lead"), apps.get_model("leads", "LeadRank")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT conname FROM pg_constraint WHERE contype = 'f'"
                " AND conrelid = 'leads_leadrank'::regclass"
            )
            (fk,) = cursor.fetchone()
            cursor.execute(
                f"ALTER TABLE leads_leadrank DROP CONSTRAINT {fk},"
                f" ADD CONSTRAINT {fk} FOREIGN KEY (lead_id) REFERENCES leads_lead (id)"
                " ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"
            )
            # triggers first, then the fill: a lead written meanwhile is kept by its trigger
            cursor.execute(rank.PG_FUNCTIONS)
            cursor.execute(rank.PG_TRIGGERS)
            rank.fill(cursor)
        else:
            rank.install_sqlite(cursor)
    # indexes after the fill (faster than maintaining them row by row)
    schema_editor.add_index(LeadRank, RANK, **_options(schema_editor))
    schema_editor.add_index(LeadRank, RANK_SCORE, **_options(schema_editor))
    schema_editor.add_index(Lead, STAGE, **_options(schema_editor))
    schema_editor.remove_index(Lead, BOARD, **_options(schema_editor))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE leads_lead SET (fillfactor = 90)")
            cursor.execute("ANALYZE leads_leadrank")


def backward(apps, schema_editor):
    connection = schema_editor.connection
    Lead, LeadRank = apps.get_model("leads", "Lead"), apps.get_model("leads", "LeadRank")
    schema_editor.add_index(Lead, BOARD, **_options(schema_editor))
    schema_editor.remove_index(Lead, STAGE, **_options(schema_editor))
    schema_editor.remove_index(LeadRank, RANK, **_options(schema_editor))
    schema_editor.remove_index(LeadRank, RANK_SCORE, **_options(schema_editor))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE leads_lead RESET (fillfactor)")
            cursor.execute(rank.PG_DROP)
        else:
            for statement in rank.SQLITE_DROP:
                cursor.execute(statement)


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("leads", "0017_lead_rank"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveIndex(model_name="lead", name="lead_board_idx"),
                migrations.AddIndex(model_name="lead", index=STAGE),
                migrations.AddIndex(model_name="leadrank", index=RANK),
                migrations.AddIndex(model_name="leadrank", index=RANK_SCORE),
            ],
            database_operations=[migrations.RunPython(forward, backward)],
        ),
    ]
