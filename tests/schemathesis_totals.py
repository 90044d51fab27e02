"""Totals of the Schemathesis run, printed at the end of every pytest run that includes it.

A plugin of the whole suite (``pytest_plugins`` in tests/conftest.py), not a conftest of
tests/api: under pytest-xdist the process that prints the summary collects nothing, so it never
loads tests/api/conftest.py.

Each Schemathesis test counts the statuses it got in ``schemathesis_tally``; the count travels in
the test's report (``user_properties``), so the totals add up in the process that prints them,
with or without pytest-xdist."""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest

SCHEMATHESIS_TESTS = {
    "test_api_as_an_admin_session": "session",
    "test_api_with_an_api_key": "api_key",
}


@dataclass
class SchemathesisTotals:
    operations: Counter[str] = field(default_factory=Counter)  # auth -> operations run
    statuses: dict[str, Counter[int]] = field(default_factory=dict)  # auth -> status -> cases
    failed: Counter[str] = field(default_factory=Counter)  # auth -> failed operations
    per_operation: Counter[str] = field(default_factory=Counter)  # "auth METHOD /path" -> cases

    def add(self, auth: str, operation: str, statuses: dict[int, int]) -> None:
        self.operations[auth] += 1
        self.statuses.setdefault(auth, Counter()).update(statuses)
        self.per_operation[f"{auth} {operation}"] += sum(statuses.values())

    def lines(self) -> list[str]:
        out = []
        for auth in sorted(self.operations):
            statuses = self.statuses[auth]
            by_class = ", ".join(
                f"{k}xx {sum(n for code, n in statuses.items() if code // 100 == k)}"
                for k in (2, 3, 4, 5)
            )
            server_errors = sum(n for code, n in statuses.items() if code >= 500)
            out.append(
                f"{auth}: {self.operations[auth]} operations, {sum(statuses.values())} cases "
                f"({by_class}), {server_errors} server errors, "
                f"{self.failed[auth]} failed operations"
            )
        heaviest = ", ".join(f"{op} ({n})" for op, n in self.per_operation.most_common(3))
        out.append(f"most cases: {heaviest}")
        return out


TOTALS = SchemathesisTotals()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    name, _, operation = report.nodeid.split("::")[-1].partition("[")
    auth = SCHEMATHESIS_TESTS.get(name)
    if auth is None:
        return
    if report.when == "call" and report.failed:
        TOTALS.failed[auth] += 1
    if report.when == "teardown":
        for key, statuses in report.user_properties:
            if key == "schemathesis_statuses" and isinstance(statuses, dict):
                TOTALS.add(auth, operation.rstrip("]"), statuses)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TOTALS.operations:
        terminalreporter.section("Schemathesis totals")
        for line in TOTALS.lines():
            terminalreporter.write_line(line)
