"""Shared builders for the journey tests: a published journey and a lead to run through it."""

import itertools
from datetime import UTC, datetime

from apps.execution.journeys import engine, services
from apps.records import services as records

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC
_n = itertools.count(1)


def template(org, **fields):
    values = {
        "name": "Hello",
        "subject": "Hi {{ first_name }}",
        "body": "Hello {{ first_name }} at {{ company }}",
    }
    return services.email_template_create(org=org, **{**values, **fields})


def journey(org, steps, *, publish=True, **fields):
    values = {"name": f"Journey {next(_n)}", "motion": "nurture", "draft_steps": steps, **fields}
    made = services.journey_create(org=org, **values)
    if publish:
        services.journey_publish(org=org, journey=made)
    return made


def lead(org, **fields):
    fields.setdefault("email", f"person{next(_n)}@example.com")
    fields.setdefault("first_name", "Ada")
    fields.setdefault("company", "Initech")
    return records.lead_create(org=org, **fields)


def sweep_until_idle(now, *, limit=50):
    """Run sweeps at `now` until nothing is due; how many steps were claimed."""
    total = 0
    for _ in range(limit):
        claimed = engine.sweep(now=now)
        if not claimed:
            return total
        total += claimed
    raise AssertionError("the sweeper never went idle")
