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


def test_the_wsgi_module_loads_the_views_and_freezes_them_out_of_the_collector():
    """gunicorn imports ``leadflow.wsgi``: by then every view module is loaded and frozen, so
    the collections a request triggers skip them (the ingestion bench's CPU per batch)."""
    import os
    import subprocess
    import sys

    code = (
        "import gc, sys; import leadflow.wsgi; "
        "print(gc.get_freeze_count(), 'leads.api.segment' in sys.modules)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "leadflow.settings"}
    out = subprocess.run(  # noqa: S603  (our own interpreter)
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(out[0]) > 10_000
    assert out[1] == "True"
