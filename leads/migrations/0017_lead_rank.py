import django.db.models.deletion
from django.db import migrations, models

# The board's rank rows (leads.models.LeadRank). A migration of its own: Django creates the
# foreign key at the end of a migration, and 0018 needs it to exist.


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0016_custom_gin"),
    ]

    operations = [
        migrations.CreateModel(
            name="LeadRank",
            fields=[
                (
                    "lead",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="board_rank",
                        serialize=False,
                        to="leads.lead",
                    ),
                ),
                ("stage", models.CharField(max_length=20)),
                ("score", models.IntegerField()),
            ],
        ),
    ]
