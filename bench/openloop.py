"""Open-loop load: item k is due at ``start + k / rate`` whatever earlier replies did.

Latency counts from the *scheduled* send time, so time an item spent waiting for a free sender
(coordinated omission) is part of it. The report says how much of the work finished: a run that
did not complete its work is "incomplete", never "target met".
"""

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Outcome:
    """One scheduled item: when it was due, when it was sent and finished, and whether it worked."""

    due: float
    sent: float = math.nan
    done: float = math.nan
    ok: bool = False
    error: str = ""

    @property
    def latency(self) -> float:
        """Seconds from the scheduled send to the end (``inf`` when it never finished)."""
        return self.done - self.due if self.ok else math.inf


@dataclass
class Run:
    rate: float
    outcomes: list[Outcome]
    started: float
    finished: float
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def completed(self) -> int:
        return sum(o.ok for o in self.outcomes)

    def percentile(self, q: float) -> float:
        """Over every scheduled item; unfinished items count as infinitely late."""
        return percentile(sorted(o.latency for o in self.outcomes), q)

    def summary(self) -> dict[str, Any]:
        n = len(self.outcomes)
        elapsed = max(self.finished - self.started, 1e-9)
        lag = sorted(o.sent - o.due for o in self.outcomes if not math.isnan(o.sent))
        return {
            "scheduled": n,
            "target_rate": self.rate,
            "achieved_rate": round(self.completed / elapsed, 1),
            "completed_share": round(self.completed / n, 4) if n else 0.0,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(sorted(self.errors.items())[:5]),
            "p50_ms": _ms(self.percentile(0.50)),
            "p95_ms": _ms(self.percentile(0.95)),
            "p99_ms": _ms(self.percentile(0.99)),
            "max_send_lag_ms": _ms(lag[-1]) if lag else None,
        }


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile of ``ordered`` (sorted ascending)."""
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _ms(seconds: float) -> float | None:
    return None if math.isinf(seconds) else round(seconds * 1000, 1)


def run_open_loop(
    send: Callable[[int], None], *, rate: float, count: int, senders: int, lead_in: float = 0.5
) -> Run:
    """Call ``send(k)`` for k in 0..count-1, each due at its slot, from ``senders`` threads.

    ``send`` raises to report a failure. Threads take the next due item in order; when all are
    busy, items wait, and that wait is counted in their latency.
    """
    start = time.perf_counter() + lead_in
    outcomes = [Outcome(due=start + k / rate) for k in range(count)]
    errors: dict[str, int] = {}
    next_item = iter(range(count))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                k = next(next_item, None)
            if k is None:
                return
            outcome = outcomes[k]
            if (wait := outcome.due - time.perf_counter()) > 0:
                time.sleep(wait)
            outcome.sent = time.perf_counter()
            try:
                send(k)
            except Exception as exc:  # noqa: BLE001  (counted and reported, never hidden)
                outcome.error = f"{type(exc).__name__}: {str(exc)[:120]}"
                with lock:
                    errors[outcome.error] = errors.get(outcome.error, 0) + 1
            else:
                outcome.ok = True
            outcome.done = time.perf_counter()

    threads = [threading.Thread(target=worker) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Run(
        rate=rate,
        outcomes=outcomes,
        started=start,
        finished=time.perf_counter(),
        errors=errors,
    )


def verdict(value_ms: float | None, target_ms: float, completed_share: float) -> str:
    """'incomplete' unless every item finished; then whether the figure meets its target."""
    if completed_share < 1.0 or value_ms is None:
        return f"incomplete ({completed_share:.1%} of the work finished)"
    return "target met" if value_ms < target_ms else "target missed"


def latencies_from(due: Sequence[float], finished: dict[int, float]) -> list[float]:
    """Per item seconds from due to finished (``inf`` when it never finished)."""
    return sorted(finished[k] - d if k in finished else math.inf for k, d in enumerate(due))
