"""Each rule gets a key that its copies in later versions keep (rule precision follows a rule
across versions). Existing copies are matched to their version's ``based_on`` by name, kind and
activity kind; a rule without a match starts a key of its own."""

import uuid

from django.db import migrations, models


def forwards(apps, schema_editor):
    Model = apps.get_model("scoring", "ScoringModel")
    Rule = apps.get_model("scoring", "ScoringRule")
    keys: dict[int, dict[tuple[str, str, str], list]] = {}  # model id -> identity -> keys
    for model in Model.objects.order_by("version"):
        parent = dict(keys.get(model.based_on_id, {}))
        parent = {k: list(v) for k, v in parent.items()}
        mine: dict[tuple[str, str, str], list] = {}
        for rule in Rule.objects.filter(model=model).order_by("id"):
            identity = (rule.name, rule.kind, rule.activity_kind)
            inherited = parent.get(identity)
            rule.key = inherited.pop(0) if inherited else uuid.uuid4()
            rule.save(update_fields=["key"])
            mine.setdefault(identity, []).append(rule.key)
        keys[model.pk] = mine


class Migration(migrations.Migration):
    dependencies = [("scoring", "0012_dry_run_leads")]

    operations = [
        migrations.AddField(
            model_name="scoringrule",
            name="key",
            field=models.UUIDField(editable=False, null=True, verbose_name="key"),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="scoringrule",
            name="key",
            field=models.UUIDField(default=uuid.uuid4, editable=False, verbose_name="key"),
        ),
    ]
