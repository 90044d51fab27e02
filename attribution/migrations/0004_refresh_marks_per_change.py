"""One refresh mark per change instead of one per lead (attribution/models.py: RefreshMark).
The marks waiting for the sweep are carried over."""

from django.db import migrations, models


def carry_marks(apps, schema_editor):
    old = apps.get_model("attribution", "OldRefreshMark")
    new = apps.get_model("attribution", "RefreshMark")
    rows = old.objects.order_by("marked_at", "lead_id").values_list("lead_id", "marked_at")
    new.objects.bulk_create(
        (new(lead_id=lead_id, marked_at=at) for lead_id, at in rows.iterator(chunk_size=5000)),
        batch_size=5000,
    )


class Migration(migrations.Migration):
    dependencies = [("attribution", "0003_spend")]

    operations = [
        migrations.RenameModel("RefreshMark", "OldRefreshMark"),
        migrations.CreateModel(
            name="RefreshMark",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("lead_id", models.BigIntegerField(db_index=True, verbose_name="lead")),
                ("marked_at", models.DateTimeField(verbose_name="marked at")),
            ],
            options={
                "verbose_name": "attribution refresh mark",
                "verbose_name_plural": "attribution refresh marks",
            },
        ),
        migrations.RunPython(carry_marks, migrations.RunPython.noop),
        migrations.DeleteModel("OldRefreshMark"),
    ]
