"""The demo's journeys: three running, leads at different steps, made by the engine, idempotent."""

import pytest

from apps.accounts import demo as accounts_demo
from apps.execution.demo.journeys import seed_journeys
from apps.execution.models import Enrollment, Journey, JourneyStepRun, OutboundEmail
from apps.records import demo as records_demo

pytestmark = pytest.mark.django_db


def test_three_running_journeys_with_leads_at_different_steps():
    org = accounts_demo.seed_people()
    records_demo.seed_records(org, scale=0.05)
    counts = seed_journeys(org)
    journeys = Journey.objects.for_org(org)
    assert sorted(journeys.values_list("motion", "status")) == [
        ("expansion", "active"), ("nurture", "active"), ("retention", "active"),
    ]  # fmt: skip
    assert counts == {j.motion: j.enrollments.count() for j in journeys}
    assert counts["nurture"] > 20
    for journey in journeys:
        running = Enrollment.objects.filter(journey=journey, status="active")
        assert running.values("step_id").distinct().count() >= 2, journey.motion  # spread over steps
    # Every step run the engine recorded is unique, and the e-mails are history, not a pending burst.
    keys = list(JourneyStepRun.objects.for_org(org).values_list("idempotency_key", flat=True))
    assert keys and len(keys) == len(set(keys))
    assert not OutboundEmail.objects.for_org(org).filter(sent_at__isnull=True).exists()
    assert seed_journeys(org) is None
