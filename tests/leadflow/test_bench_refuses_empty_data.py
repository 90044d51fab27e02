"""A benchmark given a database without its data says so and exits non-zero (issue 22)."""

import os
import subprocess
import sys

import pytest

from tests.worker import ROOT, database_url_for_subprocesses

BENCHES = [
    ["bench/cost_curve.py", "measure", "--size", "100000", "--out", "/dev/null"],
    ["bench/scoring/queue_isolation.py"],
    ["bench/scoring/bench_scoring.py"],
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("command", BENCHES, ids=lambda c: c[0])
def test_a_bench_on_an_empty_database_refuses_with_a_reason(command):
    env = {**os.environ, "DATABASE_URL": database_url_for_subprocesses()}
    done = subprocess.run(  # noqa: S603
        [sys.executable, *command], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert done.returncode != 0
    said = done.stderr.decode() + done.stdout.decode()
    assert "Traceback" not in said
    assert any(word in said for word in ("needs", "run against PostgreSQL")), said
