"""The tools around the production build: vendored assets and the smoke's compose reader."""

import re

import pytest

from tests.smoke import stack
from tests.worker import ROOT


def test_every_vendored_file_is_recreated_by_scripts_vendor_assets():
    """A file under static/vendor/ that the script does not list has no recorded origin (and
    nothing strips its source-map reference on the next update)."""
    script = (ROOT / "scripts" / "vendor-assets").read_text()
    listed = set(re.findall(r'^  "\S+@\S+\s+\S+\s+(\S+)"$', script, flags=re.MULTILINE))
    vendored = {
        str(p.relative_to(ROOT / "static" / "vendor"))
        for p in (ROOT / "static" / "vendor").rglob("*")
        if p.is_file() and p.name != "README.md"
    }
    assert vendored == listed


def test_compose_env_resolves_like_docker_compose():
    env = stack.compose_env(
        {"DATABASE_URL": "postgres://here/db"},
        {"DJANGO_SECRET_KEY": "k", "DJANGO_SECURE_SSL_REDIRECT": "0"},
    )
    assert env["DJANGO_DEBUG"] == "0"
    assert env["DJANGO_SECRET_KEY"] == "k"  # noqa: S105 (a test value)
    assert env["DJANGO_SECURE_SSL_REDIRECT"] == "0"  # ${VAR:-1} takes the caller's value
    assert env["DJANGO_ALLOWED_HOSTS"] == "localhost"  # ... or its default
    assert env["DATABASE_URL"] == "postgres://here/db"
    assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert env["PYTHONUNBUFFERED"] == "1"  # the Dockerfile's ENV


def test_compose_env_refuses_what_compose_would():
    with pytest.raises(SystemExit, match="DJANGO_SECRET_KEY"):  # ${VAR:?message}
        stack.compose_env({}, {})
    with pytest.raises(SystemExit, match="no such variable"):  # a variable production lacks
        stack.compose_env({"DJANGO_DEBUG_TOOLBAR": "1"}, {"DJANGO_SECRET_KEY": "k"})
