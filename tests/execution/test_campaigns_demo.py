"""The demo's campaigns: every workflow state, dated moves, late launches, real UTM values and violations.

Seeds once per module, at the records tests' scale, inside a transaction rolled
back when the module ends.
"""

import pytest
from django.db import transaction

from apps.accounts import demo as accounts_demo
from apps.execution.demo.campaigns import seed_campaigns
from apps.execution.models import Campaign, CampaignStatus, CampaignTransition, QaResult
from apps.execution.selectors import campaigns as selectors
from apps.execution.services import utm
from apps.records import demo as records_demo
from apps.records.models import Lead

SCALE = 0.05


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        org = accounts_demo.seed_people()
        records_demo.seed_records(org, scale=SCALE)
        counts = seed_campaigns(org)
        yield org, counts
        transaction.set_rollback(True)


@pytest.fixture
def org(seeded, db):
    return seeded[0]


def test_every_state_is_present_and_seeding_twice_adds_nothing(seeded, org):
    campaigns = Campaign.objects.for_org(org)
    assert set(campaigns.values_list("status", flat=True)) == set(CampaignStatus.values)
    assert seeded[1]["campaigns"] == campaigns.count()
    assert seeded[1]["transitions"] + campaigns.count() == CampaignTransition.objects.for_org(org).count()
    assert seed_campaigns(org) is None
    assert Campaign.objects.for_org(org).count() == campaigns.count()


def test_moves_are_dated_in_order_and_some_launches_are_late(org):
    for campaign in Campaign.objects.for_org(org):
        moments = list(campaign.transitions.values_list("at", flat=True))
        assert moments == sorted(moments)
    stats = selectors.launch_stats(org=org, queryset=Campaign.objects.for_org(org))
    assert stats.launched == 6 and stats.with_due == 6
    assert 0 < stats.on_time < stats.with_due  # the summit booth and the webinar launched late
    overridden = CampaignTransition.objects.for_org(org).exclude(override_reason="")
    assert overridden.exists() and all(t.failed_checks for t in overridden)
    assert QaResult.objects.for_org(org).exists()


def test_launched_campaigns_carry_values_the_leads_carry(org):
    values = set(Lead.objects.for_org(org).values_list("utm_campaign", flat=True))
    launched = Campaign.objects.for_org(org).filter(live_at__isnull=False)
    assert all(c.utm_campaign in values for c in launched)


def test_the_taxonomy_finds_violations_in_the_demo_touchpoints(org):
    taxonomy = utm.taxonomy_for(org)
    counts = utm.violation_counts(org=org, taxonomy=taxonomy)
    assert 0 < counts["broken"] < counts["tagged"]
    reasons = {key: n for key, _, n in counts["by_reason"]}
    assert reasons["source"] > 0  # review sites and the podcast
