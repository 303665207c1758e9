"""The demo's hand-offs, experiments and playbooks: made by the real services, on the demo's own leads.

Seeds once per module at the records tests' scale, inside a transaction rolled
back when the module ends.
"""

import pytest
from django.db import transaction

from apps.accounts import demo as accounts_demo
from apps.execution import demo
from apps.execution.demo.handoffs import seed_handoffs
from apps.execution.models import Experiment, ExperimentAssignment, Handoff, Playbook
from apps.execution.services import experiments
from apps.records import demo as records_demo

SCALE = 0.05


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        org = accounts_demo.seed_people()
        records_demo.seed_records(org, scale=SCALE)
        demo.seed_execution(org)
        counts = seed_handoffs(org)
        yield org, counts
        transaction.set_rollback(True)


@pytest.fixture
def org(seeded, db):
    return seeded[0]


def test_hand_offs_are_waiting_some_breached(seeded, org):
    counts = seeded[1]
    handoffs = Handoff.objects.for_org(org)
    assert counts["handoffs"] == handoffs.count() >= 5
    pending = handoffs.filter(status="pending")
    assert pending.exists()
    assert counts["handoffs_breached"] == handoffs.filter(breached_at__isnull=False).count() >= 1
    assert handoffs.filter(status="accepted").exists()
    assert handoffs.filter(kind="won_to_onboarding").exists()


def test_one_experiment_has_a_winner_and_one_runs(org):
    finished = Experiment.objects.for_org(org).get(status="stopped")
    running = Experiment.objects.for_org(org).get(status="running")
    assert finished.winner in {v["key"] for v in finished.variants} and finished.learned
    assert ExperimentAssignment.objects.filter(experiment=finished, converted_at__isnull=False).exists()
    results = experiments.experiment_results(org=org, experiment=running)
    assert results.comparisons == 2  # three variants, each against the control
    assert (
        sum(r.arm.size for r in results.arms)
        == ExperimentAssignment.objects.filter(experiment=running).count()
        > 0
    )


def test_playbooks_and_idempotence(org):
    assert Playbook.objects.for_org(org).count() == 3
    assert seed_handoffs(org) is None
