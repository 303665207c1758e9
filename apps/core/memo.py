"""Computing something once per unit of work, such as building one dashboard.

Inside `with memo.scope():`, `memo.remembered(key, compute)` calls `compute`
the first time a key is asked for and hands back the same value after that;
outside a scope it simply computes. A dashboard reads a plan's history both
for its targets and for its leaks: within one build they are one computation.
Nothing outlives the scope, so nothing can go stale between two requests.
"""

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_values: ContextVar[dict | None] = ContextVar("memo", default=None)


@contextmanager
def scope() -> Iterator[None]:
    """Remember values until the block ends (a scope inside another shares the outer one's values)."""
    if _values.get() is not None:
        yield
        return
    token = _values.set({})
    try:
        yield
    finally:
        _values.reset(token)


def remembered[T](key: Hashable, compute: Callable[[], T]) -> T:
    values = _values.get()
    if values is None:
        return compute()
    if key not in values:
        values[key] = compute()
    return values[key]
