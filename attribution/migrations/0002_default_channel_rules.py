"""Seed the channel grouping with the defaults (attribution/channels.py DEFAULT_RULES)."""

from typing import Any

from django.db import migrations


def forwards(apps: Any, schema_editor: Any) -> None:
    from attribution.channels import DEFAULT_RULES

    rule = apps.get_model("attribution", "ChannelRule")
    if rule.objects.exists():
        return
    rule.objects.bulk_create(
        rule(
            position=(i + 1) * 10,
            channel=channel,
            source_pattern=source,
            medium_pattern=medium,
            campaign_pattern=campaign,
        )
        for i, (channel, source, medium, campaign) in enumerate(DEFAULT_RULES)
    )


class Migration(migrations.Migration):
    dependencies = [("attribution", "0001_initial")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
