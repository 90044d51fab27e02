"""A scope for a batch of single-item service calls in one transaction (the bulk job's batch of
leads): the services stay the one place each rule lives, and inside a scope they skip work that
need not be repeated per item.

- ``cached(key, load)``: configuration read once per scope instead of once per item (SLA
  policies, assignment rules, webhook subscriptions, a team's manager). A scope lasts one
  batch, so a change committed between batches is seen by the next one; outside a scope
  ``load`` runs every time.
- ``defer(name, flush, item)``: a write that may be done for all items at once at the end of
  the batch, in the same transaction (the reports rollup, outbox rows). Each item runs in
  ``scope.item()``, wrapped around its savepoint: what a failing item deferred is dropped with
  its savepoint, so the deferred writes are exactly those of the items that went through.

If the deferred writes fail at ``flush``, the caller rolls the batch back and runs it again
with ``defer=False`` (everything done per item), so the item they belong to fails alone.
"""

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

Flush = Callable[[list[Any]], object]


@dataclass
class Scope:
    defer: bool = True
    memo: dict[Hashable, Any] = field(default_factory=dict)
    deferred: dict[str, tuple[Flush, list[Any]]] = field(default_factory=dict)

    @contextmanager
    def item(self) -> Iterator[None]:
        """One item of the batch, inside its savepoint: an exception drops what it deferred
        and everything read so far (its rollback may have released a row lock a cached read
        was taken under, or undone a write to a cached object), then propagates."""
        marks = {name: len(items) for name, (_, items) in self.deferred.items()}
        try:
            yield
        except BaseException:
            for name, (_, items) in self.deferred.items():
                del items[marks.get(name, 0) :]
            self.memo.clear()
            raise

    def flush(self) -> None:
        """Do the deferred writes (in the caller's transaction), in the order first deferred."""
        deferred, self.deferred = self.deferred, {}
        for flush, items in deferred.values():
            if items:
                flush(items)


_current: ContextVar[Scope | None] = ContextVar("leadflow_batch_scope", default=None)


@contextmanager
def batch_scope(*, defer: bool = True) -> Iterator[Scope]:
    scope = Scope(defer=defer)
    token = _current.set(scope)
    try:
        yield scope
    finally:
        _current.reset(token)


def cached(key: Hashable, load: Callable[[], T]) -> T:
    scope = _current.get()
    if scope is None:
        return load()
    if key not in scope.memo:
        scope.memo[key] = load()
    value: T = scope.memo[key]
    return value


def defer(name: str, flush: Flush, item: Any) -> bool:
    """Queue ``item`` for ``flush`` at the end of the batch; False (do it now) outside a scope
    that defers."""
    scope = _current.get()
    if scope is None or not scope.defer:
        return False
    scope.deferred.setdefault(name, (flush, []))[1].append(item)
    return True
