"""The open-loop load generator the latency benchmarks use (bench/openloop.py)."""

import time

from bench.openloop import run_open_loop, verdict


def test_waiting_for_a_free_sender_counts_in_latency() -> None:
    # one sender, 20 ms per item, items due every 10 ms: each waits longer than the one before.
    # A closed-loop timer (started at send) would report ~20 ms for every item.
    run = run_open_loop(lambda k: time.sleep(0.02), rate=100, count=30, senders=1, lead_in=0.05)
    summary = run.summary()
    assert summary["completed_share"] == 1.0
    assert summary["p99_ms"] > 200  # ~29 items x 10 ms of backlog by the last one
    assert summary["max_send_lag_ms"] > 200
    assert verdict(summary["p99_ms"], 50, summary["completed_share"]) == "target missed"


def test_a_failed_item_makes_the_run_incomplete_never_target_met() -> None:
    def send(k: int) -> None:
        if k == 3:
            raise ValueError("refused")

    summary = run_open_loop(send, rate=200, count=20, senders=2, lead_in=0.01).summary()
    assert summary["errors"] == 1
    assert summary["error_kinds"] == {"ValueError: refused": 1}
    assert summary["completed_share"] == 0.95
    assert summary["p99_ms"] is None  # the failed item is infinitely late
    assert verdict(summary["p50_ms"], 50, summary["completed_share"]).startswith("incomplete")
