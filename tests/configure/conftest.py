import pytest

from leadflow.roles import Role
from tests.leads.factories import UserFactory


@pytest.fixture
def admin_user(db):
    """An admin by role only (not a superuser): the pages must work from the role's permissions."""
    return UserFactory(username="ada", role=Role.ADMIN)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client
