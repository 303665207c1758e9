"""The data-quality overview is cached: on a million leads its aggregates take seconds.

Cached figures carry a per-organisation version; configuration changes that
alter them (rules, mappings, merges and their undo) bump the version on commit,
so the next view recomputes. New records show up when the cache expires
(OVERVIEW_SECONDS) or when someone asks for fresh figures.
"""

import time

from django.core.cache import cache
from django.db import transaction

OVERVIEW_SECONDS = 600


def _version_key(org_id: int) -> str:
    return f"quality:overview-version:{org_id}"


def overview_key(org_id: int, threshold: float) -> str:
    version = cache.get(_version_key(org_id), 0)
    return f"quality:overview:{org_id}:{version}:{threshold:.4f}"


def overview_invalidate(*, org) -> None:
    """After the current transaction commits, make every cached overview of `org` stale."""
    org_id = org.pk
    transaction.on_commit(lambda: cache.set(_version_key(org_id), time.time_ns(), None))
