import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models

# The narrow table search reads (leads.models.LeadSearchDocument); migration 0012 fills it and
# adds its triggers and indexes on PostgreSQL. A model of its own migration: Django creates the
# foreign key at the end of a migration, and 0012 needs it to exist.


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0011_activity_logged_interactions"),
    ]

    operations = [
        migrations.CreateModel(
            name="LeadSearchDocument",
            fields=[
                (
                    "lead",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="search_document",
                        serialize=False,
                        to="leads.lead",
                    ),
                ),
                ("document", models.TextField(default="")),
                ("search_vector", django.contrib.postgres.search.SearchVectorField(null=True)),
            ],
        ),
    ]
