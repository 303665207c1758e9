"""The campaign workflow, the QA gate and its override, and the launch measures, by hand."""

import datetime
from decimal import Decimal

import pytest

from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution.models import Campaign, CampaignTransition, Journey, QaCheck, QaResult
from apps.execution.selectors import campaigns as selectors
from apps.execution.services import campaign_qa, utm
from apps.execution.services import campaigns as services
from tests import factories
from tests.execution.conftest import make_rep, pool_rule, pool_with_reps, publish_policy

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


def at(day, hour=12):
    return datetime.datetime(2026, 3, day, hour, tzinfo=UTC)


@pytest.fixture
def ops(org):
    return factories.make_member(org, role=Role.REVOPS_LEAD)


@pytest.fixture
def marketer(org):
    return factories.make_member(org, role=Role.MARKETER)


def ready_campaign(org, marketer, **extra):
    """A request with everything the automatic checks want, but no journey and no routing."""
    fields = {
        "name": "Forecasting webinar",
        "type": "webinar",
        "utm_source": "webinar",
        "utm_medium": "email",
        "utm_campaign": "2026-q1-webinar-forecasting",
        "planned_budget": 5000,
        "success_metric": "leads",
        "success_target": 120,
    }
    fields.update(extra)
    return services.campaign_request(org=org, requested_by=marketer, at=at(2), **fields)


def move(org, campaign, to, actor, **kwargs):
    kwargs.setdefault("at", at(10))
    transition = services.campaign_transition(org=org, campaign=campaign, to_status=to, actor=actor, **kwargs)
    campaign.refresh_from_db()
    return transition


def test_a_request_starts_requested_with_its_first_transition(org, marketer):
    campaign = ready_campaign(org, marketer)
    assert campaign.status == "requested"
    assert campaign.owner == marketer and campaign.requested_by == marketer
    (first,) = CampaignTransition.objects.filter(campaign=campaign)
    assert (first.from_status, first.to_status, first.actor) == ("", "requested", marketer)


def test_intake_refuses_bad_input_naming_the_field(org, marketer, other_org):
    with pytest.raises(ServiceError) as exc:
        services.campaign_request(org=org, requested_by=marketer, name="", type="webinar")
    assert exc.value.field == "name"
    with pytest.raises(ServiceError) as exc:
        services.campaign_request(org=org, requested_by=marketer, name="X", type="billboard")
    assert exc.value.field == "type"
    with pytest.raises(ServiceError) as exc:
        services.campaign_request(
            org=org, requested_by=marketer, name="X", type="webinar", success_metric="nope"
        )
    assert exc.value.field == "success_metric"
    foreign = factories.make_member(other_org, role=Role.MARKETER)
    with pytest.raises(ServiceError) as exc:
        services.campaign_request(org=org, requested_by=marketer, name="X", type="webinar", owner=foreign.pk)
    assert exc.value.field == "owner"
    with pytest.raises(ServiceError) as exc:
        services.campaign_request(
            org=org,
            requested_by=marketer,
            name="X",
            type="webinar",
            start_date=datetime.date(2026, 3, 5),
            end_date=datetime.date(2026, 3, 1),
        )
    assert exc.value.field == "end_date"
    ready_campaign(org, marketer)
    with pytest.raises(ServiceError) as exc:
        ready_campaign(org, marketer, name="Same value")
    assert exc.value.field == "utm_campaign"


def test_the_whole_workflow_records_every_move(org, marketer, ops):
    campaign = ready_campaign(org, marketer)
    move(org, campaign, "triaged", ops, ops_owner=ops.pk, due_date=datetime.date(2026, 3, 20), at=at(3))
    assert campaign.ops_owner == ops and campaign.due_date == datetime.date(2026, 3, 20)
    move(org, campaign, "in_build", ops, at=at(4))
    move(org, campaign, "in_qa", ops, at=at(5))
    # In QA the automatic checks ran: no journey and no routing, so two required checks fail.
    assert QaResult.objects.filter(campaign=campaign).count() == 4
    move(org, campaign, "approved", ops, override_reason="Journey ships next week", at=at(6))
    move(org, campaign, "live", ops, override_reason="Journey ships next week", at=at(9))
    assert campaign.live_at == at(9)
    move(org, campaign, "completed", ops, at=at(30))
    assert campaign.closed_at == at(30)
    history = list(
        CampaignTransition.objects.filter(campaign=campaign).values_list("from_status", "to_status")
    )
    assert history == [
        ("", "requested"),
        ("requested", "triaged"),
        ("triaged", "in_build"),
        ("in_build", "in_qa"),
        ("in_qa", "approved"),
        ("approved", "live"),
        ("live", "completed"),
    ]


@pytest.mark.parametrize(
    ("path", "target"),
    [((), "live"), ((), "in_build"), (("triaged",), "approved"), (("triaged", "in_build"), "completed")],
)
def test_illegal_moves_are_refused_with_a_clear_error(org, marketer, ops, path, target):
    campaign = ready_campaign(org, marketer)
    for status in path:
        move(org, campaign, status, ops, ops_owner=ops.pk, due_date=datetime.date(2026, 3, 20))
    before = campaign.status
    with pytest.raises(ServiceError) as exc:
        move(org, campaign, target, ops)
    assert exc.value.code == "illegal_move" and exc.value.field == "to_status"
    assert "cannot go from" in exc.value.message
    assert campaign.status == before


def test_triage_needs_an_operations_owner_and_a_due_date(org, marketer, ops):
    campaign = ready_campaign(org, marketer)
    with pytest.raises(ServiceError) as exc:
        move(org, campaign, "triaged", ops, due_date=datetime.date(2026, 3, 20))
    assert exc.value.field == "ops_owner"
    with pytest.raises(ServiceError) as exc:
        move(org, campaign, "triaged", ops, ops_owner=ops.pk)
    assert exc.value.field == "due_date"
    assert campaign.status == "requested"


def test_cancelling_needs_a_reason_and_closes_nothing_after_completion(org, marketer, ops):
    campaign = ready_campaign(org, marketer)
    with pytest.raises(ServiceError) as exc:
        move(org, campaign, "cancelled", ops)
    assert exc.value.field == "note"
    move(org, campaign, "cancelled", ops, note="Budget moved to events")
    assert campaign.status == "cancelled" and campaign.closed_at is not None
    with pytest.raises(ServiceError):
        move(org, campaign, "triaged", ops, ops_owner=ops.pk, due_date=datetime.date(2026, 3, 20))


def _to_qa(org, campaign, ops):
    move(org, campaign, "triaged", ops, ops_owner=ops.pk, due_date=datetime.date(2026, 3, 20))
    move(org, campaign, "in_build", ops)
    move(org, campaign, "in_qa", ops)


def test_the_qa_gate_blocks_approval_and_launch_without_an_override(org, marketer, ops):
    campaign = ready_campaign(org, marketer)
    _to_qa(org, campaign, ops)
    with pytest.raises(ServiceError) as exc:
        move(org, campaign, "approved", ops)
    assert exc.value.code == "qa_failed" and exc.value.field == "override_reason"
    assert "A follow-up journey is attached" in exc.value.message
    assert campaign.status == "in_qa"
    transition = move(org, campaign, "approved", ops, override_reason="Accepted risk")
    assert transition.override_reason == "Accepted risk"
    assert set(transition.failed_checks) == {
        "A follow-up journey is attached (active or draft)",
        "Routing covers the expected audience",
        "Links, forms and tracking tested by hand",
    }
    with pytest.raises(ServiceError) as exc:
        move(org, campaign, "live", ops)
    assert exc.value.code == "qa_failed"


def test_passing_checks_need_no_override(org, marketer, ops):
    rep = make_rep(org, "Rita Rep")
    pool = pool_with_reps(org, [rep])
    publish_policy(
        org, rules=[pool_rule(pool, "France", {"field": "country", "op": "equals", "value": "FR"})]
    )
    campaign = ready_campaign(
        org, marketer, expected_audience=[{"field": "country", "op": "equals", "value": "FR"}]
    )
    Journey.objects.create(organization=org, name="Webinar follow-up", motion="nurture", campaign=campaign)
    _to_qa(org, campaign, ops)
    manual = QaCheck.objects.get(organization=org, kind="manual")
    campaign_qa.qa_tick(org=org, campaign=campaign, check=manual, passed=True, actor=ops)
    transition = move(org, campaign, "approved", ops)
    assert transition.override_reason == "" and transition.failed_checks == []
    assert move(org, campaign, "live", ops).failed_checks == []


def test_an_override_reason_without_failures_or_off_the_gate_is_refused(org, marketer, ops):
    campaign = ready_campaign(org, marketer)
    with pytest.raises(ServiceError) as exc:
        move(
            org,
            campaign,
            "triaged",
            ops,
            ops_owner=ops.pk,
            due_date=datetime.date(2026, 3, 20),
            override_reason="why not",
        )
    assert exc.value.field == "override_reason"


def test_checklist_defaults_are_created_once_and_can_be_changed(org):
    checks = campaign_qa.checklist_for(org)
    assert [c.kind for c in checks] == [
        "utm_valid",
        "journey_attached",
        "routing_covers",
        "budget_and_kpi",
        "manual",
    ]
    assert len(campaign_qa.checklist_for(org)) == 5
    routing = checks[2]
    campaign_qa.qa_check_update(org=org, check=routing, label="Routing", required=False, active=True)
    campaign_qa.qa_check_create(org=org, kind="manual", label="Legal approved the copy")
    assert [c.label for c in campaign_qa.checklist_for(org)][-1] == "Legal approved the copy"
    with pytest.raises(ServiceError) as exc:
        campaign_qa.qa_check_create(org=org, kind="manual", label=" ")
    assert exc.value.field == "label"


def test_an_advisory_or_inactive_check_does_not_block(org, marketer, ops):
    for check in campaign_qa.checklist_for(org):
        if check.kind in ("journey_attached", "manual"):
            campaign_qa.qa_check_update(org=org, check=check, label=check.label, required=False, active=True)
        if check.kind == "routing_covers":
            campaign_qa.qa_check_update(org=org, check=check, label=check.label, required=True, active=False)
    campaign = ready_campaign(org, marketer)
    _to_qa(org, campaign, ops)
    assert move(org, campaign, "approved", ops).failed_checks == []


def test_automatic_checks_explain_what_fails(org, marketer):
    utm.taxonomy_update(
        org=org,
        allowed_sources=["webinar"],
        allowed_mediums=["email"],
        campaign_pattern=r"\d{4}-q[1-4]-[a-z0-9-]+",
        campaign_pattern_help="year-quarter-name",
    )
    campaign = services.campaign_request(
        org=org,
        requested_by=marketer,
        name="Bad tags",
        type="webinar",
        utm_source="Webinar",
        utm_medium="email",
        utm_campaign="spring",
        expected_audience=[{"field": "country", "op": "equals", "value": "FR"}],
    )
    results = {r.item.kind: r for r in campaign_qa.qa_run(org=org, campaign=campaign)}
    assert not results["utm_valid"].passed
    assert (
        "not lower case" in results["utm_valid"].detail and "year-quarter-name" in results["utm_valid"].detail
    )
    assert not results["budget_and_kpi"].passed
    assert results["budget_and_kpi"].detail == "Set a planned budget and a success KPI with a target."
    # No policy at all: a French lead would wait unassigned.
    assert not results["routing_covers"].passed
    assert not results["manual"].passed and results["manual"].pk is None  # not ticked, nothing stored


def test_routing_check_samples_recent_matching_leads(org, marketer):
    from apps.records import services as records

    rep = make_rep(org, "Rita Rep")
    pool = pool_with_reps(org, [rep])
    fallback = pool_with_reps(org, [make_rep(org, "Fay Fallback")], name="Fallback")
    publish_policy(
        org,
        rules=[pool_rule(pool, "France", {"field": "country", "op": "equals", "value": "FR"})],
        fallback_pool=fallback,
    )
    records.lead_create(org=org, email="a@fr.test", country="FR")
    records.lead_create(org=org, email="b@de.test", country="DE")
    campaign = ready_campaign(
        org, marketer, expected_audience=[{"field": "country", "op": "in", "value": ["FR"]}]
    )
    assert [lead.email for lead in campaign_qa.audience_sample(org, campaign)] == ["a@fr.test"]
    assert campaign_qa._routing_covers(org, campaign).passed
    services.campaign_update(
        org=org,
        campaign=campaign,
        expected_audience=[{"field": "country", "op": "in", "value": ["FR", "DE"]}],
    )
    verdict = campaign_qa._routing_covers(org, campaign)
    assert not verdict.passed and verdict.detail.startswith("1 of 2 recent matching leads")


# Launch measures, by hand -------------------------------------------------------------------------


def _launched(org, name, requested, live, due):
    """A campaign requested and live at the given UTC moments (the org's zone is set per test)."""
    return Campaign.objects.create(
        organization=org,
        name=name,
        type="webinar",
        status="live",
        requested_at=requested,
        live_at=live,
        due_date=due,
    )


def test_cycle_time_and_on_time_rate_by_hand(org):
    org.time_zone = "America/New_York"
    org.save()
    d = datetime.date
    # A: requested 1 Mar, live 11 Mar (10 days), due 10 Mar: late.
    _launched(org, "A", at(1), at(11), d(2026, 3, 10))
    # B: requested 2 Mar, live 6 Mar (4 days), due 6 Mar: on time (the due day counts).
    _launched(org, "B", at(2), at(6), d(2026, 3, 6))
    # C: live 3 Mar 02:00 UTC = 2 Mar 21:00 in New York; requested 1 Mar 15:00 UTC: 1 day, due 2 Mar: on time.
    _launched(org, "C", at(1, 15), datetime.datetime(2026, 3, 3, 2, tzinfo=UTC), d(2026, 3, 2))
    # D: live after 7 days, no due date: counts for cycle time only.
    _launched(org, "D", at(1), at(8), None)
    # E: not live: counts for neither.
    Campaign.objects.create(
        organization=org, name="E", type="webinar", requested_at=at(1), due_date=d(2026, 3, 1)
    )
    stats = selectors.launch_stats(org=org, queryset=Campaign.objects.for_org(org))
    assert sorted(stats.cycle_days) == [1, 4, 7, 10]
    assert stats.cycle_mean == 5.5  # (10 + 4 + 1 + 7) / 4
    assert stats.cycle_median == 5.5  # (4 + 7) / 2
    assert (stats.launched, stats.with_due, stats.on_time) == (4, 3, 2)
    assert stats.on_time_rate == 66.7  # 2 / 3


def test_no_launch_yet_has_no_measures(org):
    stats = selectors.launch_stats(org=org, queryset=Campaign.objects.for_org(org))
    assert stats.cycle_mean is None and stats.on_time_rate is None and stats.launched == 0


def test_month_grid_places_launched_and_planned_campaigns(org):
    live = _launched(org, "Live one", at(1), at(11), None)
    planned = Campaign.objects.create(
        organization=org, name="Planned", type="event", start_date=datetime.date(2026, 3, 24)
    )
    Campaign.objects.create(
        organization=org,
        name="Dropped",
        type="event",
        status="cancelled",
        start_date=datetime.date(2026, 3, 24),
    )
    weeks = selectors.month_grid(org=org, year=2026, month=3)
    placed = {day.day: day.items for week in weeks for day in week if day.items}
    assert placed == {
        datetime.date(2026, 3, 11): [(live, "launched")],
        datetime.date(2026, 3, 24): [(planned, "planned")],
    }
    assert weeks[0][0].day == datetime.date(2026, 2, 23)  # Monday before 1 March


def test_delete_only_untriaged_or_cancelled(org, marketer, ops):
    campaign = ready_campaign(org, marketer)
    move(org, campaign, "triaged", ops, ops_owner=ops.pk, due_date=datetime.date(2026, 3, 20))
    with pytest.raises(ServiceError):
        services.campaign_delete(org=org, campaign=campaign)
    other = ready_campaign(org, marketer, utm_campaign="2026-q1-other", name="Other")
    services.campaign_delete(org=org, campaign=other)
    assert not Campaign.objects.filter(pk=other.pk).exists()


def test_budget_is_a_decimal(org, marketer):
    campaign = ready_campaign(org, marketer, planned_budget="1250.50")
    assert campaign.planned_budget == Decimal("1250.50")
