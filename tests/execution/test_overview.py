"""The Execution front page says where routing, the inbox and SLAs stand."""

import pytest
from django.urls import reverse

from apps.execution.models import RejectReason, SlaPolicy
from tests.execution.conftest import make_rep, pool_rule, pool_with_reps, publish_policy, route_new_lead

pytestmark = pytest.mark.django_db


def _page(client, org):
    return client.get(reverse("execution_index", kwargs={"org_slug": org.slug}))


def test_a_new_organisation_is_told_what_to_set_up(owner_client, org):
    response = _page(owner_client, org)

    assert response.status_code == 200
    body = response.content.decode()
    assert "No policy is published yet: create a queue, then add a rule." in body
    assert "No SLA yet" in body


def test_new_organisations_get_the_standard_reject_reasons(org):
    keys = set(RejectReason.objects.for_org(org).values_list("key", flat=True))
    assert {"not_icp", "duplicate", "wrong_territory", "bad_data"} <= keys


def test_the_page_counts_the_live_policy_offers_and_slas(
    owner_client, org, owner, django_assert_max_num_queries
):
    reps = [make_rep(org, "Ana Ruiz"), make_rep(org, "Bo Lind")]
    pool = pool_with_reps(org, reps)
    SlaPolicy.objects.create(organization=org, name="Accept in 15", target_minutes=15)
    publish_policy(org, rules=[pool_rule(pool, "Everyone")], actor=owner)
    for _ in range(3):
        route_new_lead(org)

    with django_assert_max_num_queries(16):
        body = _page(owner_client, org).content.decode()

    assert "Version 1 is live with 1 rule and 1 queue." in body
    assert "3 leads offered and not yet accepted" in body
    assert "1 active policy; 0 breaches in the last 7 days." in body
