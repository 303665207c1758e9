"""The demo's change requests: one applied twelve days ago, one awaiting approval, seeded once."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.accounts.models import Organization
from apps.accounts.roles import Role
from apps.governance.changes import metrics
from apps.governance.demo_changes import seed_changes
from apps.governance.models import ChangeRequest, ChangeStatus
from tests import factories
from tests.execution.conftest import make_rep, pool_with_reps, publish_policy

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_an_applied_request_and_one_awaiting_approval_once(org, owner):
    revops = factories.make_member(org, role=Role.REVOPS_LEAD)
    manager = factories.make_member(org, role=Role.SALES_MANAGER)
    aes = pool_with_reps(org, [make_rep(org, "Alex AE")], name="AEs")
    enterprise = {"name": "Enterprise (1,000+ employees) to the AEs",
                  "conditions": [{"field": "account.employees", "op": "gte", "value": 1000}],
                  "action": {"type": "pool", "pool": aes.pk}}  # fmt: skip
    publish_policy(org, rules=[enterprise], fallback_pool=aes, actor=owner)

    assert seed_changes(org) == {"applied": 1, "awaiting approval": 1}

    applied = ChangeRequest.objects.for_org(org).get(subject="metrics")
    assert applied.status == ChangeStatus.APPLIED and applied.requested_by == revops
    assert timezone.now() - applied.applied_at > timedelta(days=11)
    assert metrics.export(org)["gross_margin"] == 0.78

    pending = ChangeRequest.objects.for_org(org).get(subject="routing")
    assert pending.status == ChangeStatus.IN_REVIEW and pending.requested_by == manager
    assert pending.proposed["rules"][0]["conditions"][0]["value"] == 250
    assert pending.impact["kind"] == "routing"

    assert seed_changes(org) is None
    assert ChangeRequest.objects.for_org(org).count() == 2


def test_seed_demo_leaves_one_request_applied_and_one_awaiting_approval():
    call_command("seed_demo", scale=0.05, stdout=io.StringIO())
    demo = Organization.objects.get(slug="northwind")
    by_status = {c.status: c for c in ChangeRequest.objects.for_org(demo)}
    assert set(by_status) == {ChangeStatus.APPLIED, ChangeStatus.IN_REVIEW}
    assert by_status[ChangeStatus.APPLIED].subject == "metrics"
    pending = by_status[ChangeStatus.IN_REVIEW]
    assert pending.subject == "routing" and pending.requested_by.role == Role.SALES_MANAGER
    assert pending.impact["kind"] == "routing" and pending.impact["leads"] > 0
