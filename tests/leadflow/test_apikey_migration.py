"""Migration leadflow 0004: every key made before there were public keys becomes secret."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE, AFTER = ("leadflow", "0003_api_keys"), ("leadflow", "0004_api_key_kind")


@pytest.mark.django_db(transaction=True)
def test_existing_keys_become_secret_keys_without_an_identity_secret():
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    old = executor.loader.project_state([BEFORE]).apps
    user = old.get_model("leadflow", "User").objects.create(username="api:crm")
    old.get_model("leadflow", "ApiKey").objects.create(
        name="crm", prefix="0badc0de", hashed_key="0" * 64, scopes=["events:write"], user=user
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    new = executor.loader.project_state([AFTER]).apps
    key = new.get_model("leadflow", "ApiKey").objects.get(prefix="0badc0de")
    assert (key.kind, key.identity_secret) == ("secret", "")
