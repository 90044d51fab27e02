from django.db import migrations

# Lead.custom holds the custom field values. jsonb_path_ops serves containment (custom @> '{"erp":
# "sap"}'), the filters' equality test for any field, without an index per field; range filters
# use the per-field expression indexes leads.customfield_services makes for filterable fields.
# PostgreSQL only: SQLite scans.


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS lead_custom_gin ON leads_lead"
        " USING gin (custom jsonb_path_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS lead_custom_gin")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY: a live database keeps taking leads meanwhile

    dependencies = [("leads", "0015_custom_fields")]

    operations = [migrations.RunPython(create_index, drop_index)]
