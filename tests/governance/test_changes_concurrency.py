"""The beat task run by several workers at once, against the real database (no test transaction):
each due request is claimed by one of them (FOR UPDATE SKIP LOCKED) and applied exactly once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.roles import Role
from apps.governance.changes import metrics, sla, stages
from apps.governance.models import ChangeRequest, ChangeStatus
from apps.governance.services import changes as services
from apps.records.models import StageDefinitionVersion
from tests import factories
from tests.execution.test_routing_concurrency import run_in_threads

pytestmark = pytest.mark.django_db(transaction=True)


def test_workers_racing_on_due_requests_apply_each_once(org, owner):
    admin = owner.memberships.get(organization=org)
    revops = factories.make_member(org, role=Role.REVOPS_LEAD)
    renamed = stages.export(org)
    renamed["stages"][0]["name"] = "Enquiry"
    proposals = [
        ("metrics", {**metrics.export(org), "gross_margin": 0.7}),
        ("stages", renamed),
        ("sla", {**sla.export(org, None), "name": "Accept in 30", "target_minutes": 30}),
    ]
    soon = timezone.now() + timedelta(hours=1)
    for subject, proposed in proposals:
        change = services.change_create(
            org=org, by=revops, subject=subject, title=subject, proposed=proposed, effective_at=soon
        )
        services.change_submit(org=org, change=change, by=revops)
        services.change_approve(org=org, change=change, by=admin)
    versions = StageDefinitionVersion.objects.for_org(org).count()
    applied = []

    run_in_threads(lambda _: applied.append(services.apply_due(now=soon + timedelta(minutes=1))), n=4)

    assert sum(applied) == 3
    assert set(ChangeRequest.objects.for_org(org).values_list("status", flat=True)) == {ChangeStatus.APPLIED}
    for change in ChangeRequest.objects.for_org(org):
        assert change.events.filter(status=ChangeStatus.APPLIED).count() == 1
    assert StageDefinitionVersion.objects.for_org(org).count() == versions + 1
    assert metrics.export(org)["gross_margin"] == 0.7
