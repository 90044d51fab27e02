from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations, models

# The name search (leads.filtersets.SearchText with icontains) compares UPPER() of this text;
# the index expression must stay identical to what that renders, or PostgreSQL scans every lead
# (tests/leads/test_query_plans.py holds them together). pg_trgm serves LIKE '%…%': substring
# matches, and word starts ("% zq%") for one or two characters. PostgreSQL only: SQLite scans.
SEARCH_TEXT = (
    "upper((' ' || first_name || ' ' || last_name || ' ' || company || ' ' || domain)::text)"
)


def create_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # CONCURRENTLY: a live database keeps taking leads while the index builds (≈ 20 s at 1M)
    schema_editor.execute(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS lead_search_trgm_idx ON leads_lead"
        f" USING gin ({SEARCH_TEXT} gin_trgm_ops)"
    )
    # statistics on the indexed expression: how many leads a search term matches
    schema_editor.execute("ANALYZE leads_lead")


def drop_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS lead_search_trgm_idx")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("leads", "0009_activity_kind_screen_view"),
    ]

    operations = [
        TrigramExtension(),  # CREATE EXTENSION pg_trgm on PostgreSQL, nothing elsewhere
        migrations.RunPython(create_search_index, drop_search_index),
        # the SAL inbox's "to qualify" list walks a rep's SALs in stage_changed_at order
        migrations.AddIndex(
            model_name="lead",
            index=models.Index(
                fields=["owner", "stage", "stage_changed_at"], name="lead_owner_stage_time_idx"
            ),
        ),
        migrations.RemoveIndex(model_name="lead", name="lead_owner_stage_idx"),
    ]
