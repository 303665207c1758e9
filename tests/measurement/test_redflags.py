"""Each red flag on a fixture that should raise it and one that should not.

`today` is 30 May 2026: the current window is 3-30 May, the previous one 5 April - 2 May.
"""

import datetime

import pytest
from django.utils import timezone

from apps.execution.models import Campaign
from apps.execution.models.journeys import Journey
from apps.governance.models import AgendaItem, Decision, OperatingReview
from apps.measurement import redflags
from apps.measurement.models import FunnelChannelDay, ResponseDay
from apps.records.models import Lead, LifecycleStage
from apps.strategy.models import KpiNode
from tests import factories

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 5, 30)
NOW_DAY, BEFORE_DAY = datetime.date(2026, 5, 10), datetime.date(2026, 4, 20)


@pytest.fixture
def org(db):
    return factories.make_org(time_zone="UTC")


def keys(flags):
    return [flag.key for flag in flags]


def volumes(org, *, leads_before, leads, offered, rejected_before, rejected, completeness=1.0):
    for day, created in ((BEFORE_DAY, leads_before), (NOW_DAY, leads)):
        FunnelChannelDay.objects.create(
            organization=org,
            day=day,
            stage="inquiry",
            channel="Paid Social",
            created=created,
            created_completeness=created * completeness,
        )
    for day, rejects in ((BEFORE_DAY, rejected_before), (NOW_DAY, rejected)):
        ResponseDay.objects.create(organization=org, day=day, assignments=offered, rejected=rejects)


def test_rejections_rising_with_volume_is_raised(org):
    # Leads 100 -> 130 (+30 %), reject rate 10 % -> 20 % (+10 points: critical from +6).
    volumes(org, leads_before=100, leads=130, offered=100, rejected_before=10, rejected=20)
    (flag,) = redflags.rejections_rising(org, TODAY)
    assert flag.key == "red_flag:rejections_rising" and flag.severity == "critical"
    assert "rose 30% (100 → 130)" in flag.detail and "from 10.0 % to 20.0 %" in flag.detail
    assert "reject_rate" in flag.url


def test_rejections_flat_or_volume_flat_is_not_raised(org):
    volumes(org, leads_before=100, leads=130, offered=100, rejected_before=10, rejected=12)  # +2 points
    assert redflags.rejections_rising(org, TODAY) == []
    other = factories.make_org(time_zone="UTC")
    volumes(other, leads_before=100, leads=105, offered=100, rejected_before=10, rejected=20)  # volume +5 %
    assert redflags.rejections_rising(other, TODAY) == []


def test_low_completeness_is_raised_under_the_threshold(org):
    volumes(org, leads_before=0, leads=20, offered=0, rejected_before=0, rejected=0, completeness=0.5)
    (flag,) = redflags.low_completeness(org, TODAY)
    assert flag.key == "red_flag:low_completeness" and flag.severity == "warning"
    assert "50% complete" in flag.detail


def test_complete_enough_data_is_not_raised(org):
    volumes(org, leads_before=0, leads=20, offered=0, rejected_before=0, rejected=0, completeness=0.6)
    assert redflags.low_completeness(org, TODAY) == []
    other = factories.make_org(time_zone="UTC")  # too few leads to judge
    volumes(other, leads_before=0, leads=9, offered=0, rejected_before=0, rejected=0, completeness=0.1)
    assert redflags.low_completeness(other, TODAY) == []


def campaign(org, name, *, status="live", utm=True):
    values = {"utm_campaign": name.lower(), "utm_source": "linkedin", "utm_medium": "paid"} if utm else {}
    return Campaign.objects.create(organization=org, name=name, type="paid_social", status=status, **values)


def test_live_campaigns_without_tracking_or_follow_up_are_raised(org):
    campaign(org, "Untracked", utm=False)
    followed = campaign(org, "Followed")
    Journey.objects.create(organization=org, name="Follow-up", motion="capture", campaign=followed)
    campaign(org, "Planned", status="in_build", utm=False)  # not live: no flag
    flags = redflags.campaigns_untracked(org, TODAY) + redflags.campaigns_without_follow_up(org, TODAY)
    assert keys(flags) == ["red_flag:campaigns_untracked", "red_flag:campaigns_without_follow_up"]
    assert "“Untracked”" in flags[0].detail and "“Followed”" not in flags[0].detail
    assert "“Untracked” is live with no journey" in flags[1].detail


def test_tracked_and_followed_campaigns_are_not_raised(org):
    followed = campaign(org, "Followed")
    Journey.objects.create(organization=org, name="Follow-up", motion="capture", campaign=followed)
    active = campaign(org, "Also followed")
    Journey.objects.create(organization=org, name="Live", motion="capture", campaign=active, status="active")
    assert redflags.campaigns_untracked(org, TODAY) == []
    assert redflags.campaigns_without_follow_up(org, TODAY) == []


def test_an_archived_journey_is_no_follow_up(org):
    bare = campaign(org, "Bare")
    Journey.objects.create(organization=org, name="Old", motion="capture", campaign=bare, status="archived")
    assert keys(redflags.campaigns_without_follow_up(org, TODAY)) == ["red_flag:campaigns_without_follow_up"]


def test_kpi_nodes_without_an_owner(org):
    member = factories.make_member(org)
    KpiNode.objects.create(organization=org, name="Owned", owner=member)
    assert redflags.kpi_unowned(org, TODAY) == []
    KpiNode.objects.create(organization=org, name="Orphan KPI")
    (flag,) = redflags.kpi_unowned(org, TODAY)
    assert flag.title == "1 KPI without an owner" and "“Orphan KPI”" in flag.detail


def leads(org, count, *, owner=None, days_in_stage=0):
    stage = LifecycleStage.objects.for_org(org).get(key="mql")
    since = timezone.now() - datetime.timedelta(days=days_in_stage)
    for i in range(count):
        Lead.objects.create(
            organization=org,
            email=f"l{i}-{days_in_stage}@x.test",
            stage=stage,
            owner=owner,
            stage_entered_at=since,
        )


def test_orphan_leads_from_five_are_raised(org):
    member = factories.make_member(org)
    leads(org, 3)  # unowned
    leads(org, 2, owner=member, days_in_stage=4)  # MQL past its 3 days
    leads(org, 10, owner=member, days_in_stage=1)  # fine
    today = timezone.localdate()
    (flag,) = redflags.orphan_leads(org, today)
    assert flag.title == "5 leads in no man's land" and flag.detail.startswith("3 have no owner and 2 have")


def test_four_orphan_leads_are_not_raised(org):
    leads(org, 4)
    leads(org, 10, owner=factories.make_member(org), days_in_stage=1)
    assert redflags.orphan_leads(org, timezone.localdate()) == []


def review(org, week: int, status="held"):
    start = datetime.date(2026, 4, 6) + datetime.timedelta(weeks=week)
    return OperatingReview.objects.create(
        organization=org,
        period_start=start,
        period_end=start + datetime.timedelta(days=6),
        status=status,
        held_on=start + datetime.timedelta(days=7) if status == "held" else None,
    )


def raise_item(org, rev, key="leak:sal>sql:overall", title="SAL → SQL fell"):
    return AgendaItem.objects.create(organization=org, review=rev, key=key, title=title, source="leak")


def test_an_issue_raised_in_three_reviews_without_a_decision(org):
    for week in range(3):
        raise_item(org, review(org, week))
    raise_item(org, review(org, 3, status="planned"))  # a planned review does not count
    (flag,) = redflags.undecided_issues(org, TODAY)
    assert flag.key == "red_flag:undecided:leak:sal>sql:overall"
    assert flag.title == "Raised in 3 reviews without a decision: SAL → SQL fell"


def test_an_issue_with_a_decision_or_raised_twice_is_not_raised(org):
    items = [raise_item(org, review(org, week)) for week in range(3)]
    for week in range(3, 5):
        raise_item(org, review(org, week), key="red_flag:kpi_unowned", title="KPIs without owner")
    Decision.objects.create(
        organization=org, review=items[1].review, agenda_item=items[1], text="Retrain SDRs"
    )
    assert redflags.undecided_issues(org, TODAY) == []
    # Reviews held after `today` do not count yet.
    raise_item(org, review(org, 10), key="red_flag:kpi_unowned", title="KPIs without owner")
    assert redflags.undecided_issues(org, TODAY) == []


def test_red_flags_lists_critical_first(org):
    volumes(org, leads_before=100, leads=130, offered=100, rejected_before=10, rejected=20, completeness=0.5)
    KpiNode.objects.create(organization=org, name="Orphan KPI")
    flags = redflags.red_flags(org, today=TODAY)
    assert keys(flags) == ["red_flag:rejections_rising", "red_flag:low_completeness", "red_flag:kpi_unowned"]
    assert [f.severity for f in flags] == ["critical", "warning", "warning"]
    assert flags[0].as_dict()["key"] == "red_flag:rejections_rising"
