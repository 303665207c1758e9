"""Producing the next batches in a thread while the current one waits on the database.

Reading and validating a batch is pure Python; writing it is mostly waiting
for Postgres, during which psycopg2 releases the GIL. Running the two side by
side hides most of the Python time of an import.

The producer thread reads the stored file through its own database connection,
which sees committed rows only. Callers inside a transaction (tests wrapped in
one, for instance) therefore produce in their own thread instead.
"""

import queue
import threading
from collections.abc import Iterable, Iterator

from django.db import connection, connections

_END = object()


def prefetched(items: Iterable, *, depth: int = 2) -> Iterator:
    """Iterate `items` with up to `depth` of them produced ahead, in a thread when that is safe."""
    if connection.in_atomic_block:
        yield from items
        return
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the consumer, raised there
            put((_END, exc))
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=produce, name="import-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
