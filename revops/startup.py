"""What every long-lived process of revops does once it has loaded: web workers and Celery workers."""

import gc


def freeze_startup_objects(**kwargs):
    """Put what startup loaded (modules, settings, URL patterns, model metadata) out of the cyclic
    garbage collector's reach.

    A request or a task allocates thousands of short-lived objects, which sets off full collections;
    each one walked every object startup had made: 60 to 150 ms of a journey sweep's second, and
    the slowest requests' tail. Frozen, a full collection walks only what the work since made.
    Nothing frozen is ever freed, which costs nothing: startup objects live as long as the process.
    """
    gc.collect()
    gc.freeze()
