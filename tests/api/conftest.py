"""Totals of the Schemathesis run, printed at the end of every pytest run that includes it."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core import signals
from django.db import close_old_connections

SCHEMATHESIS_TESTS = {
    "test_api_as_an_admin_session": "session",
    "test_api_with_an_api_key": "api_key",
}


@dataclass
class SchemathesisTotals:
    operations: dict[str, set[str]] = field(default_factory=dict)  # auth -> "METHOD /path"
    cases: Counter[str] = field(default_factory=Counter)  # auth -> requests sent
    statuses: dict[str, Counter[int]] = field(default_factory=dict)  # auth -> status -> n
    failed: Counter[str] = field(default_factory=Counter)  # auth -> failed operations
    per_operation: Counter[str] = field(default_factory=Counter)  # "METHOD /path" -> cases

    def record(self, auth: str, case: Any, status: int) -> None:
        operation = f"{case.operation.method.upper()} {case.operation.path}"
        self.operations.setdefault(auth, set()).add(operation)
        self.per_operation[operation] += 1
        self.cases[auth] += 1
        self.statuses.setdefault(auth, Counter())[status] += 1

    def lines(self) -> list[str]:
        out = []
        for auth in sorted(self.cases):
            statuses = self.statuses[auth]
            server_errors = sum(n for code, n in statuses.items() if code >= 500)
            by_class = ", ".join(
                f"{k}xx {sum(n for code, n in statuses.items() if code // 100 == k)}"
                for k in (2, 3, 4, 5)
            )
            out.append(
                f"{auth}: {len(self.operations[auth])} operations, {self.cases[auth]} cases "
                f"({by_class}), {server_errors} server errors, "
                f"{self.failed[auth]} failed operations"
            )
        heaviest = ", ".join(f"{op} {n}" for op, n in self.per_operation.most_common(3))
        out.append(f"most cases: {heaviest}")
        return out


TOTALS = SchemathesisTotals()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    name = report.nodeid.split("::")[-1].split("[")[0]
    if name in SCHEMATHESIS_TESTS and report.when == "call" and report.failed:
        TOTALS.failed[SCHEMATHESIS_TESTS[name]] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TOTALS.cases:
        terminalreporter.section("Schemathesis totals")
        for line in TOTALS.lines():
            terminalreporter.write_line(line)


@pytest.fixture
def keep_the_test_connection():
    """As Django's test client does: a request sent through the WSGI app (Schemathesis) must not
    close the test's DB connection at its end."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
