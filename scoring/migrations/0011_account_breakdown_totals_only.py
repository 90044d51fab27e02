"""Stored account breakdowns lose their "members" list: the sweep stores only the totals now
and the most engaged members are read when shown. Without this, the next sweep would rewrite
every account's row once (the breakdowns differ) and readers would carry a list nothing reads."""

from django.db import migrations

SQL = {
    "postgresql": "UPDATE scoring_accountscore SET breakdown = breakdown - 'members' "
    "WHERE breakdown ? 'members'",
    "sqlite": "UPDATE scoring_accountscore SET breakdown = json_remove(breakdown, '$.members') "
    "WHERE json_type(breakdown, '$.members') IS NOT NULL",
}


def strip_members(apps, schema_editor):  # type: ignore[no-untyped-def]
    sql = SQL.get(schema_editor.connection.vendor)
    if sql is not None:
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("scoring", "0010_dry_run_accounts")]

    operations = [migrations.RunPython(strip_members, migrations.RunPython.noop, elidable=True)]
