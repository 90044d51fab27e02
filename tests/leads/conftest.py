"""Fixtures of the lead tests."""

import pytest


@pytest.fixture
def writer(make_api_key):
    secret, _ = make_api_key("events:write")
    return secret
