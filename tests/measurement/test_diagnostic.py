# ruff: noqa: RUF003 (prose for people: the signs × − ÷ – are meant)
"""The growth diagnostic: every component on a case that earns its points and one that does not, the
quadrant of four organisations built through services, the symptoms and alignment checks, the ranking of
recommendations on a hand-computed case, the snapshots and the page, CSV and API giving the same numbers."""

import datetime
import re
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts import services as account_services
from apps.accounts.roles import Role
from apps.execution.journeys import services as journey_services
from apps.execution.models import Assignment, Campaign, RoutingDecision, RoutingPool, RoutingRequest
from apps.execution.services import campaign_qa
from apps.execution.services import campaigns as campaign_services
from apps.execution.services import handoffs as handoff_services
from apps.execution.services import policies as routing_policies
from apps.execution.services import routing as routing_services
from apps.execution.services import setup as setup_services
from apps.execution.services import sla as sla_services
from apps.governance.services import reviews as review_services
from apps.integrations import services as integration_services
from apps.integrations.models import WebhookEndpoint
from apps.measurement.diagnostic import recommendations, scoring, snapshot, symptoms
from apps.measurement.diagnostic.components import BY_KEY, COMPONENTS, PILLARS, of_pillar
from apps.measurement.diagnostic.evidence import Context
from apps.measurement.metrics import engine
from apps.measurement.models import DiagnosticSnapshot
from apps.measurement.services import rollup
from apps.quality import services as quality_services
from apps.records import services as record_services
from apps.records.models import LifecycleStage
from apps.strategy.fiscal import fiscal_quarter_of
from apps.strategy.services import budget as budget_services
from apps.strategy.services import goals as goal_services
from apps.strategy.services import kpi as kpi_services
from apps.strategy.services import positioning as positioning_services
from apps.strategy.services import programs as program_services
from apps.strategy.services import segments as segment_services
from tests import factories
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db


def scored(org, key: str) -> dict:
    return scoring.score_component(Context.for_day(org), BY_KEY[key])


def assert_points(org, key: str, points: int, ratio=None):
    point = scored(org, key)
    assert point["points"] == points, point
    if ratio is not None:
        assert point["ratio"] == pytest.approx(ratio), point
    return point


@pytest.fixture
def member(org):
    return factories.make_member(org, role=Role.REVOPS_LEAD)


@pytest.fixture
def outsider_member(other_org):
    return factories.make_member(other_org, role=Role.REVOPS_LEAD)


RULES = [{"name": "Has an e-mail", "points": 1, "conditions": [{"field": "email", "op": "is_not_empty"}]}]


def make_segment(*, org, key, name, **fields):
    return segment_services.segment_create(org=org, key=key, name=name, rules=RULES, **fields)


def today_of(org):
    return engine.local_today(org)


# --- The table -----------------------------------------------------------------------------------


def test_every_pillar_adds_up_to_ten_points_and_every_component_links_to_a_page(org):
    for pillar in PILLARS:
        assert sum(c.max_points for c in of_pillar(pillar)) == 10
    report = snapshot.compute(org)
    keys = [p["key"] for pillar in report["pillars"] for p in pillar["components"]]
    assert keys == [c.key for c in COMPONENTS]
    for pillar in report["pillars"]:
        for point in pillar["components"]:
            assert point["fix_url"].startswith("/o/acme/"), point


def test_thresholds_give_the_points_of_the_first_one_reached():
    component = BY_KEY["technology.journeys"]  # 100 %: 3, 75 %: 2, 50 %: 1
    assert [component.points_for(r) for r in (None, 0, 0.49, 0.5, 0.75, 0.99, 1.0)] == [0, 0, 0, 1, 2, 2, 3]


# --- People --------------------------------------------------------------------------------------


def test_kpi_owners(org, other_org, member, outsider_member):
    kpi_services.kpi_node_create(org=org, name="Bookings", owner=member)
    kpi_services.kpi_node_create(org=other_org, name="Bookings")
    assert_points(org, "people.kpi_owners", 2, 1.0)
    point = assert_points(other_org, "people.kpi_owners", 0, 0.0)
    assert point["records"] == ["Bookings"]
    assert point["status"] == "missed"


def test_a_component_with_nothing_to_measure_scores_zero_and_says_so(org):
    point = assert_points(org, "people.kpi_owners", 0)
    assert point["status"] == "no_evidence" and point["ratio"] is None
    assert point["summary"] == "No KPI-tree nodes yet: nothing to measure."


def test_stage_owners(org, other_org, member):
    team = account_services.team_create(org=org, name="Marketing", members=[member])
    for stage in LifecycleStage.objects.for_org(org).filter(kind="funnel"):
        record_services.stage_update(org=org, stage=stage, owner_team=team)
    assert_points(org, "people.stage_owners", 2, 1.0)
    assert_points(other_org, "people.stage_owners", 0, 0.0)


def test_sla_owners(org, other_org, member):
    team = account_services.team_create(org=org, name="Sales", members=[member])
    setup_services.sla_policy_create(org=org, name="MQL accept", target_minutes=30, team=team)
    setup_services.sla_policy_create(org=other_org, name="MQL accept", target_minutes=30)
    assert_points(org, "people.sla_owners", 2, 1.0)
    assert_points(other_org, "people.sla_owners", 0, 0.0)


def test_segment_owners(org, other_org, member):
    make_segment(org=org, key="smb", name="SMB", owner=member, recompute=False)
    make_segment(org=other_org, key="smb", name="SMB", recompute=False)
    assert_points(org, "people.segment_owners", 1, 1.0)
    assert_points(other_org, "people.segment_owners", 0, 0.0)


def test_actions_closed_on_time(org, other_org, member, outsider_member):
    today = today_of(org)
    for organisation, owner, done in ((org, member, True), (other_org, outsider_member, False)):
        review = review_services.review_create(
            org=organisation, kind="weekly", today=today - datetime.timedelta(days=7), propose=False
        )
        item = review_services.action_add(
            org=organisation,
            review=review,
            title="Fix routing",
            owner=owner,
            due=today - datetime.timedelta(days=2),
        )
        if done:
            review_services.action_set_status(
                org=organisation, item=item, status="done", now=timezone.now() - datetime.timedelta(days=3)
            )
    assert_points(org, "people.actions_on_time", 2, 1.0)
    point = assert_points(other_org, "people.actions_on_time", 0, 0.0)
    assert point["records"] == ["Fix routing"]


def test_handoffs_with_a_receiver(org, other_org, member):
    lead = record_services.lead_create(org=org, email="a@example.test")
    handoff_services.handoff_create(org=org, kind="mql_to_sal", lead=lead, receiver=member, strict=False)
    other_lead = record_services.lead_create(org=other_org, email="a@example.test")
    handoff_services.handoff_create(org=other_org, kind="mql_to_sal", lead=other_lead, strict=False)
    assert_points(org, "people.handoff_receivers", 1, 1.0)
    assert_points(other_org, "people.handoff_receivers", 0, 0.0)


# --- Process -------------------------------------------------------------------------------------


def test_handoff_compliance(org, other_org, member):
    lead = record_services.lead_create(org=org, email="a@example.test")
    handoff = handoff_services.handoff_create(
        org=org, kind="mql_to_sal", lead=lead, receiver=member, strict=False
    )
    handoff_services.handoff_accept(org=org, handoff=handoff)
    other_lead = record_services.lead_create(org=other_org, email="a@example.test")
    # Handed over ten days ago and never answered: past its due time.
    handoff_services.handoff_create(
        org=other_org,
        kind="mql_to_sal",
        lead=other_lead,
        strict=False,
        at=timezone.now() - datetime.timedelta(days=10),
    )
    assert_points(org, "process.handoff_compliance", 2, 1.0)
    assert_points(other_org, "process.handoff_compliance", 0, 0.0)


def test_campaign_qa_pass_rate(org, other_org, member, outsider_member):
    for organisation, owner, passed in ((org, member, True), (other_org, outsider_member, False)):
        campaign = campaign_services.campaign_request(
            org=organisation, requested_by=owner, name="Spring webinar", type="webinar"
        )
        check = campaign_qa.qa_check_create(org=organisation, kind="manual", label="Copy proofread")
        campaign_qa.qa_tick(org=organisation, campaign=campaign, check=check, passed=passed, actor=owner)
    assert_points(org, "process.campaign_qa", 1, 1.0)
    point = assert_points(other_org, "process.campaign_qa", 0, 0.0)
    assert point["records"] == ["Spring webinar: Copy proofread"]


def test_on_time_launch(org, other_org):
    today = today_of(org)
    live_at = timezone.now() - datetime.timedelta(days=5)
    Campaign.objects.create(
        organization=org, name="On time", type="webinar", status="live", live_at=live_at, due_date=today
    )
    Campaign.objects.create(
        organization=other_org,
        name="Late",
        type="webinar",
        status="live",
        live_at=live_at,
        due_date=today - datetime.timedelta(days=20),
    )
    assert_points(org, "process.on_time_launch", 1, 1.0)
    assert assert_points(other_org, "process.on_time_launch", 0, 0.0)["records"] == ["Late"]


def _route_one_lead(org, owner, *, by_rule: bool, captured_at=None):
    rep = factories.make_member(org, role=Role.SALES_REP)
    pool = RoutingPool.objects.create(organization=org, name="Sales")
    setup_services.pool_member_add(org=org, pool=pool, membership=rep)
    policy = routing_policies.policy_for(org)
    conditions = [] if by_rule else [{"field": "country", "op": "equals", "value": "ZZ"}]
    routing_policies.draft_update(
        org=org,
        policy=policy,
        fallback_pool=pool,
        rules=[{"name": "Everyone", "conditions": conditions, "action": {"type": "pool", "pool": pool.pk}}],
    )
    routing_policies.policy_publish(org=org, policy=policy, actor=owner)
    lead = record_services.lead_create(
        org=org, email="routed@example.test", country="FR", captured_at=captured_at
    )
    routing_services.route_request(request_id=RoutingRequest.objects.get(organization=org, lead=lead).pk)
    return rep


def test_routed_by_rule(org, other_org, owner, outsider):
    _route_one_lead(org, owner, by_rule=True)
    _route_one_lead(other_org, outsider, by_rule=False)
    assert RoutingDecision.objects.for_org(other_org).get().rule_index is None  # the fallback queue decided
    assert_points(org, "process.routed_by_rule", 2, 1.0)
    assert_points(other_org, "process.routed_by_rule", 0, 0.0)


def test_no_mans_land(org, other_org, member):
    record_services.lead_create(org=org, email="owned@example.test", owner=member)
    record_services.lead_create(org=other_org, email="orphan@example.test")
    assert_points(org, "process.no_mans_land", 2, 1.0)
    assert_points(other_org, "process.no_mans_land", 0, 0.0)


def test_sla_compliance_has_no_evidence_without_clocks(org):
    point = assert_points(org, "process.sla_compliance", 0)
    assert point["status"] == "no_evidence"


def test_sla_compliance_from_the_metric_engine(org, other_org, owner, outsider):
    for organisation, actor in ((org, owner), (other_org, outsider)):
        setup_services.sla_policy_create(org=organisation, name="Accept", target_minutes=15)
        rep = _route_one_lead(organisation, actor, by_rule=True)
        assignment = Assignment.objects.for_org(organisation).get()
        if organisation == org:
            routing_services.assignment_accept(org=org, assignment=assignment, actor=rep.user)
    sla_services.sla_sweep(now=timezone.now() + datetime.timedelta(hours=2))  # other_org's clock runs out
    for organisation in (org, other_org):
        rollup.rollup(organisation, full=True)
    assert_points(org, "process.sla_compliance", 2, 1.0)
    assert_points(other_org, "process.sla_compliance", 0, 0.0)


# --- Technology ----------------------------------------------------------------------------------


def test_api_keys_used_in_the_last_week(org, other_org):
    api = api_client_for(org)
    assert api.get(reverse("api-red-flags")).status_code == 200  # using it stamps last_used_at
    factories.make_api_key(other_org, name="Never used")
    assert_points(org, "technology.api_keys", 2, 1.0)
    assert assert_points(other_org, "technology.api_keys", 0, 0.0)["records"] == ["Never used"]


def test_webhooks_healthy(org, other_org):
    integration_services.webhook_endpoint_create(org=org, url="https://hooks.example.test/ok")
    failing = integration_services.webhook_endpoint_create(org=other_org, url="https://hooks.example.test/ko")
    WebhookEndpoint.objects.filter(pk=failing.pk).update(consecutive_failures=4)  # four deliveries failed
    assert_points(org, "technology.webhooks", 2, 1.0)
    assert_points(other_org, "technology.webhooks", 0, 0.0)


def _run_journeys(org, motions):
    template = journey_services.email_template_create(org=org, name="Hello", subject="Hi", body="Hello")
    for motion in motions:
        journey = journey_services.journey_create(
            org=org,
            name=f"{motion} journey",
            motion=motion,
            draft_steps=[{"id": "s1", "type": "email", "email": {"template": template.pk}}],
        )
        journey_services.journey_publish(org=org, journey=journey)


def test_automation_coverage(org, other_org):
    _run_journeys(org, ["capture", "nurture", "expansion", "retention"])
    _run_journeys(other_org, ["nurture"])
    assert_points(org, "technology.journeys", 3, 1.0)
    point = assert_points(other_org, "technology.journeys", 0, 0.25)
    assert "No running demand capture journey" in point["records"]


def test_tracking_follows_the_taxonomy(org, other_org):
    for organisation, campaign in ((org, "spring-webinar"), (other_org, "Spring Webinar")):
        lead = record_services.lead_create(org=organisation, email="t@example.test")
        record_services.touchpoint_create(
            org=organisation, lead=lead, utm_source="google", utm_medium="cpc", utm_campaign=campaign
        )
    assert_points(org, "technology.tracking", 3, 1.0)
    assert_points(other_org, "technology.tracking", 0, 0.0)  # upper case breaks the default taxonomy


# --- Data ----------------------------------------------------------------------------------------


def test_completeness(org, other_org):
    # The default rules: e-mail, company and source required, 80 % of the weights filled.
    record_services.lead_create(
        org=org, email="full@example.test", first_name="Ada", last_name="Lovelace", company="Analytical",
        title="CTO", country="GB", phone="+44 20 7946 0000", source="Webinar",
    )  # fmt: skip
    record_services.lead_create(org=other_org, email="only@example.test")
    assert_points(org, "data.completeness", 3, 1.0)
    assert_points(other_org, "data.completeness", 0, 0.0)


def test_duplicates(org, other_org):
    record_services.lead_create(org=org, email="one@example.test")
    record_services.lead_create(org=org, email="two@example.test")
    record_services.lead_create(org=other_org, email="same@example.test")
    record_services.lead_create(org=other_org, email="same@example.test")
    assert_points(org, "data.duplicates", 2, 1.0)
    assert_points(other_org, "data.duplicates", 0, 0.5)  # one open pair among two leads


def test_unmapped_sources(org, other_org):
    for organisation in (org, other_org):
        record_services.lead_create(org=organisation, email="s@example.test", source="Partner portal")
    quality_services.source_mapping_create(org=org, raw_value="partner portal", channel="Partner")
    assert_points(org, "data.unmapped", 2, 1.0)
    point = assert_points(other_org, "data.unmapped", 0, 0.0)
    assert point["records"] == ["partner portal (1 uses)"]


def test_stage_criteria(org, other_org):
    LifecycleStage.objects.for_org(other_org).filter(key="sal").update(entry_criteria="  ")
    assert_points(org, "data.stage_criteria", 2, 1.0)
    total = LifecycleStage.objects.for_org(other_org).count()
    point = assert_points(other_org, "data.stage_criteria", 1 if (total - 1) / total >= 0.75 else 0)
    assert point["records"] == ["SAL"]


def test_metric_definitions(org, other_org):
    kpi_services.kpi_node_create(org=org, name="Leads", metric="leads")
    kpi_services.kpi_node_create(org=org, name="Partner sourced", description="Deals a partner introduced")
    kpi_services.kpi_node_create(org=other_org, name="Vibes")
    assert_points(org, "data.metric_definitions", 1, 1.0)
    assert_points(other_org, "data.metric_definitions", 0, 0.0)


# --- Strategy ------------------------------------------------------------------------------------


def build_strategy(org, member):
    """A complete strategy for the current quarter, through the strategy services."""
    today = today_of(org)
    year, quarter = fiscal_quarter_of(org.fiscal_year_start_month, today)
    goal = goal_services.goal_create(
        org=org,
        metric="new_bookings",
        fiscal_year=year,
        quarter=quarter,
        owner=member,
        team=None,
        target=50000,
    )
    icp = make_segment(
        org=org, key="mid-market", name="Mid-market", is_icp=True, owner=member, recompute=False
    )
    smb = make_segment(org=org, key="smb", name="SMB", owner=member, recompute=False)
    offers = {}
    for segment in (icp, smb):
        positioning_services.positioning_save(org=org, segment=segment, value_propositions=["Faster close"])
        offers[segment.pk] = positioning_services.offer_create(
            org=org, name=f"{segment.name} demo", type="demo", segment=segment
        )
    node = kpi_services.kpi_node_create(org=org, name="New bookings", metric="new_bookings", owner=member)
    kpi_services.kpi_target_set(org=org, node=node, period_start=today.replace(day=1), value=50000)
    program = program_services.program_create(
        org=org,
        name="Mid-market demand",
        objective="Pipeline from mid-market",
        rationale="Best win rate",
        start=(today - datetime.timedelta(days=10)).isoformat(),
        end=(today + datetime.timedelta(days=30)).isoformat(),
        owner=member,
        segment=icp,
        offer=offers[icp.pk],
        goal=goal,
        budget_lines=[{"channel": "Paid Search", "description": "Search ads", "amount": 5000}],
    )
    return program


def test_strategy_components_earn_their_points(org, other_org, member):
    build_strategy(org, member)
    make_segment(org=other_org, key="all", name="Everyone", recompute=False)
    kpi_services.kpi_node_create(org=other_org, name="Bookings")
    today = today_of(other_org)
    program_services.program_create(
        org=other_org, name="Some ads", objective="Leads", start=today.isoformat(), end=today.isoformat()
    )
    for key in (
        "strategy.goals",
        "strategy.icp_segments",
        "strategy.positioning",
        "strategy.kpi_tree",
        "strategy.plan",
    ):
        assert_points(org, key, 2, 1.0)
        assert_points(other_org, key, 0, 0.0)


def test_half_a_strategy_earns_half_the_points(org, member):
    make_segment(org=org, key="icp", name="ICP", is_icp=True, recompute=False)
    point = assert_points(org, "strategy.icp_segments", 1, 0.5)
    assert point["records"] == ["1 segment defined (two or more expected)"]


# --- Quadrants -----------------------------------------------------------------------------------


def build_execution(org):
    """A connected, automated, tracked and clean stack, through the services."""
    assert api_client_for(org).get(reverse("api-red-flags")).status_code == 200
    integration_services.webhook_endpoint_create(org=org, url="https://hooks.example.test/in")
    _run_journeys(org, ["capture", "nurture", "expansion", "retention"])
    lead = record_services.lead_create(org=org, email="tracked@example.test")
    record_services.touchpoint_create(
        org=org, lead=lead, utm_source="google", utm_medium="cpc", utm_campaign="spring-webinar"
    )
    for raw, channel in (("google", "Paid Search"), ("cpc", "Paid Search")):
        quality_services.source_mapping_create(org=org, raw_value=raw, channel=channel)


@pytest.fixture
def four(db):
    orgs = {}
    for slug, with_strategy, with_execution in (
        ("both", True, True),
        ("plan", True, False),
        ("machine", False, True),
        ("blank", False, False),
    ):
        owner = factories.make_user(email=f"{slug}@example.test")
        org = factories.make_org(name=slug.title(), slug=slug, owner=owner)
        member = factories.make_member(org, role=Role.REVOPS_LEAD)
        if with_strategy:
            build_strategy(org, member)
        if with_execution:
            build_execution(org)
        orgs[slug] = org
    return orgs


def test_each_fixture_organisation_lands_in_its_quadrant(four):
    expected = {
        "both": scoring.STRONG_BOTH,
        "plan": scoring.STRATEGY_ONLY,
        "machine": scoring.EXECUTION_ONLY,
        "blank": scoring.NEITHER,
    }
    for slug, quadrant in expected.items():
        report = snapshot.compute(four[slug])
        assert report["quadrant"] == quadrant, (slug, report["scores"])
    machine = snapshot.compute(four["machine"])["scores"]
    assert machine["technology"] == 10
    assert machine["strategy"] == 0
    assert snapshot.compute(four["plan"])["scores"]["strategy"] == 10


def test_quadrant_threshold_is_five():
    assert scoring.quadrant_of(5, 5) == scoring.STRONG_BOTH
    assert scoring.quadrant_of(5, 4.9) == scoring.STRATEGY_ONLY
    assert scoring.quadrant_of(4.9, 5) == scoring.EXECUTION_ONLY
    assert scoring.quadrant_of(4.9, 4.9) == scoring.NEITHER


# --- Symptoms and alignment ----------------------------------------------------------------------


def _by_key(findings):
    return {finding["key"]: finding for finding in findings}


def test_busy_work_and_campaigns_without_a_program(org, member):
    program = build_strategy(org, member)
    live_at = timezone.now() - datetime.timedelta(days=3)
    Campaign.objects.create(
        organization=org, name="Loose one", type="webinar", status="live", live_at=live_at
    )
    Campaign.objects.create(
        organization=org,
        name="Planned one",
        type="webinar",
        status="live",
        live_at=live_at,
        program=program,
        segment=program.segment,
    )
    report = snapshot.compute(org)
    busy = _by_key(report["symptoms"])["symptom.busy_work"]
    assert busy["found"] and busy["share"] == 0.5 and busy["records"] == ["Loose one"]
    loose = _by_key(report["alignment"])["alignment.campaigns_without_program"]
    assert loose["found"] and loose["records"] == ["Loose one"]
    assert loose["sentence"] == "1 of 2 campaigns (tactics) serve no program of the plan."


def test_programs_without_a_rationale_and_a_budget_only_strategy(org):
    today = today_of(org)
    year, quarter = fiscal_quarter_of(org.fiscal_year_start_month, today)
    program_services.program_create(
        org=org, name="Ads", objective="Leads", start=today.isoformat(), end=today.isoformat()
    )
    quality_services.source_mapping_create(org=org, raw_value="linkedin", channel="Paid Social")
    budget_services.budget_create(
        org=org, fiscal_year=year, quarter=quarter, channel="Paid Social", planned_spend=900
    )
    checks = _by_key(snapshot.compute(org)["alignment"])
    assert checks["alignment.programs_without_rationale"]["records"] == ["Ads: no segment, no offer, no goal"]
    assert checks["alignment.budget_only_strategy"]["found"]
    assert not checks["alignment.volume_against_sql_rate"]["found"]


def test_lead_volume_pushed_while_the_sql_rate_falls(org):
    """The 90 days before: 10 leads, 4 SQLs (40 %). The last 90 days: 20 leads, 2 SQLs (10 %).
    Volume +100 % (≥ 10 %) while the rate falls by three quarters (≥ 10 % relative): found."""
    now = timezone.now()
    for days_ago, leads, sqls in ((120, 10, 4), (10, 20, 2)):
        captured = now - datetime.timedelta(days=days_ago)
        for index in range(leads):
            lead = record_services.lead_create(
                org=org, email=f"lead{days_ago}-{index}@example.test", captured_at=captured
            )
            if index < sqls:
                record_services.lead_change_stage(
                    org=org, lead=lead, to="sql", at=captured + datetime.timedelta(hours=1)
                )
    rollup.rollup(org, full=True)
    check = _by_key(symptoms.alignment(Context.for_day(org)))["alignment.volume_against_sql_rate"]
    assert check["found"]
    assert check["sentence"] == (
        "Leads +100% on the 90 days before (10 → 20) while the SQL rate went 40.0 % → 10.0 %."
    )


def test_attribution_disputes_and_broken_tracking(org):
    account = record_services.account_create(org=org, name="Globex")
    record_services.opportunity_create(org=org, name="Untouched deal", account=account, amount=1000)
    lead = record_services.lead_create(org=org, email="x@example.test")
    record_services.touchpoint_create(
        org=org, lead=lead, utm_source="Google", utm_medium="cpc", utm_campaign="x"
    )
    ctx = Context.for_day(org)
    scoring.score(ctx)  # the tracking measure counts the touchpoints the symptom reads
    found = _by_key(symptoms.symptoms(ctx))
    assert found["symptom.attribution_disputes"]["found"]
    assert found["symptom.attribution_disputes"]["records"] == ["Untouched deal"]
    assert found["symptom.broken_tracking"]["found"]
    assert found["symptom.broken_tracking"]["share"] == 1.0


# --- Recommendations -----------------------------------------------------------------------------


def _point(key, points, ratio):
    component = BY_KEY[key]
    return {
        "key": key,
        "max_points": component.max_points,
        "points": points,
        "ratio": ratio,
        "action": component.action,
        "fix_url": f"/fix/{key}",
        "fix_label": component.fix_label,
    }


def test_recommendations_are_ranked_by_expected_revenue_on_a_hand_computed_case(org):
    points = [
        _point("people.kpi_owners", 1, 0.5),  # estimate: (1 - 0.5) × 2 % × 100,000 = 1,000
        _point("data.stage_criteria", 0, None),  # no evidence: 1 × 2 % × 100,000 = 2,000
        _point("process.sla_compliance", 1, 0.8),  # the largest MQL leak: 5,000
        _point("process.handoff_compliance", 0, 0.6),  # the largest SAL leak: 9,000
        _point("technology.webhooks", 2, 1.0),  # every point earned: no recommendation
    ]
    findings = [
        {"key": "symptom.busy_work", "found": True, "share": 0.5, "title": "Busy work"},  # 0.5 × 2 % = 1,000
        {"key": "symptom.uneven_pipeline", "found": False, "share": 0.9, "title": "Uneven pipeline"},
    ]
    leaks = [
        {"key": "mql>sal", "from_stage": "mql", "revenue_at_stake": 5000.0, "sentence": "MQL → SAL leaks"},
        {"key": "mql>sal:channel:x", "from_stage": "mql", "revenue_at_stake": 1200.0, "sentence": "smaller"},
        {"key": "sal>sql", "from_stage": "sal", "revenue_at_stake": 9000.0, "sentence": "SAL → SQL leaks"},
    ]
    ranked = recommendations.recommend(Context.for_day(org), points, findings, leaks, 100_000)
    assert [(r["key"], r["impact"], r["basis"]) for r in ranked] == [
        ("process.handoff_compliance", 9000.0, "leak"),
        ("process.sla_compliance", 5000.0, "leak"),
        ("data.stage_criteria", 2000.0, "estimate"),
        ("people.kpi_owners", 1000.0, "estimate"),  # ties with busy work: more missing points first
        ("symptom.busy_work", 1000.0, "estimate"),
    ]
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4, 5]
    assert ranked[0]["basis_text"] == "SAL → SQL leaks"
    assert ranked[4]["url"] == "/o/acme/campaigns/"


# --- Snapshots -----------------------------------------------------------------------------------


def test_a_day_has_one_snapshot_and_the_trend_keeps_the_last_of_each_week(org, member):
    today = today_of(org)
    monday = today - datetime.timedelta(days=today.weekday())
    days = [monday - datetime.timedelta(days=7), monday - datetime.timedelta(days=3), monday]
    for day in days:
        snapshot.take(org, day)
    snapshot.take(org, monday)  # the same day again replaces it
    assert DiagnosticSnapshot.objects.for_org(org).count() == 3
    rows = snapshot.trend_rows(org)
    # The week before: its Sunday's (monday - 3 is in it, monday - 7 too), then this week's.
    assert [row["week"] for row in rows] == [monday - datetime.timedelta(days=3), monday]
    assert snapshot.trend_chart(rows) is not None


def test_current_takes_todays_snapshot_once(org):
    first = snapshot.current(org)
    assert first.taken_on == today_of(org)
    assert snapshot.current(org).pk == first.pk


def test_organisations_due_for_the_nightly_snapshot(org, other_org):
    today = today_of(org)
    zone = ZoneInfo(org.time_zone)
    night = datetime.datetime.combine(today, datetime.time(1, 0), tzinfo=zone)
    morning = datetime.datetime.combine(today, datetime.time(snapshot.NIGHT_HOUR, 5), tzinfo=zone)
    theirs = snapshot.take(other_org, today)
    DiagnosticSnapshot.objects.filter(pk=theirs.pk).update(updated_at=morning)  # taken after their night
    assert org.pk not in snapshot.organizations_due(night)  # its night has not passed yet
    due = snapshot.organizations_due(morning)
    assert org.pk in due
    if other_org.time_zone == org.time_zone:
        assert other_org.pk not in due  # it has today's snapshot already
    # A snapshot the page took before the night was over (on yesterday's facts) does not count.
    taken = snapshot.take(org, today)
    DiagnosticSnapshot.objects.filter(pk=taken.pk).update(updated_at=night)
    assert org.pk in snapshot.organizations_due(morning)
    DiagnosticSnapshot.objects.filter(pk=taken.pk).update(updated_at=morning)
    assert org.pk not in snapshot.organizations_due(morning)


# --- Page, CSV and API -----------------------------------------------------------------------------


def test_page_csv_and_api_show_the_same_numbers(org, member, owner_client, api):
    build_strategy(org, member)
    page = owner_client.get(reverse("measurement_diagnostic", args=[org.slug]))
    assert page.status_code == 200
    report = DiagnosticSnapshot.objects.for_org(org).get().report
    body = page.content.decode()
    assert report["quadrant_label"] in body
    assert f"Strategy {report['scores']['strategy']}/10" in body
    first = report["recommendations"][0]
    assert f'href="{first["url"]}"' in body

    from_api = api.get(reverse("api-diagnostic")).json()
    assert from_api["scores"] == report["scores"]
    assert from_api["recommendations"] == report["recommendations"]

    csv_api = api.get(reverse("api-diagnostic-components"))
    assert csv_api["Content-Type"].startswith("text/csv")
    lines = csv_api.content.decode().splitlines()
    assert len(lines) == 1 + len(COMPONENTS)
    strategy_goals = next(line for line in lines if ",strategy.goals," in line)
    assert strategy_goals.split(",")[4:6] == ["2", "2"]

    export = owner_client.get(reverse("measurement_diagnostic_export", args=[org.slug]))
    assert b"".join(export.streaming_content).decode().splitlines() == lines


def test_printable_report_leaves_out_the_controls(org, owner_client):
    body = owner_client.get(reverse("measurement_diagnostic", args=[org.slug]) + "?print=1").content.decode()
    assert "diagnostic-print" in body
    assert "Recompute now" not in body
    assert 'aria-label="Measurement"' not in body


def test_recompute_is_for_operators_and_runs_in_a_worker(
    org, owner_client, django_capture_on_commit_callbacks
):
    viewer = factories.make_member(org, role=Role.VIEWER)
    viewer_client = Client()
    viewer_client.force_login(viewer.user)
    url = reverse("measurement_diagnostic_recompute", args=[org.slug])
    assert viewer_client.post(url).status_code == 403
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(url)
    assert response.status_code == 302
    assert len(callbacks) == 1
    assert owner_client.get(url).status_code == 405


def test_weekly_review_links_to_the_diagnostic(org, owner_client):
    body = owner_client.get(reverse("measurement_weekly", args=[org.slug])).content.decode()
    assert f'href="{reverse("measurement_diagnostic", args=[org.slug])}"' in body


def test_the_nightly_task_queues_the_organisations_due_and_each_takes_its_snapshot(org, monkeypatch):
    from apps.measurement.diagnostic import tasks

    queued = []
    monkeypatch.setattr(snapshot, "organizations_due", lambda: [org.pk])
    monkeypatch.setattr(tasks.diagnostic_organization, "delay", queued.append)
    tasks.diagnostic_nightly()
    assert queued == [org.pk]
    result = tasks.diagnostic_organization(org.pk)
    taken = DiagnosticSnapshot.objects.for_org(org).get()
    assert result == {"taken_on": taken.taken_on.isoformat(), "quadrant": "neither", "scores": taken.scores}
    assert tasks.diagnostic_organization(0) is None


def test_uneven_pipeline_on_a_hand_computed_case(org):
    today = today_of(org)
    last_sunday = today - datetime.timedelta(days=today.weekday() + 1)
    account = record_services.account_create(org=org, name="Initech")
    record_services.opportunity_create(
        org=org,
        name="Lumpy deal",
        account=account,
        amount=1200,
        created_date=last_sunday - datetime.timedelta(days=10),
    )
    rollup.rollup(org, full=True)
    # Twelve weeks: 1,200 in one, 0 in eleven. Mean 100; population deviation
    # sqrt((1100² + 11 × 100²) / 12) = sqrt(110,000) = 331.66; coefficient of variation 3.3166.
    found = _by_key(symptoms.symptoms(Context.for_day(org)))["symptom.uneven_pipeline"]
    assert found["found"]
    assert found["share"] == pytest.approx(3.3166, abs=1e-4)


def test_activity_without_impact(org):
    live_at = timezone.now() - datetime.timedelta(days=3)
    for name, value in (("Spring webinar", "spring-webinar"), ("Summer ads", "summer-ads")):
        Campaign.objects.create(
            organization=org, name=name, type="webinar", status="live", live_at=live_at, utm_campaign=value
        )
    lead = record_services.lead_create(org=org, email="buyer@example.test", utm_campaign="spring-webinar")
    record_services.opportunity_create(org=org, name="From the webinar", primary_contact=lead, amount=500)
    found = _by_key(symptoms.symptoms(Context.for_day(org)))["symptom.activity_without_impact"]
    assert found["found"] and found["share"] == 0.5 and found["records"] == ["Summer ads"]


def test_slow_follow_up(org, owner):
    """A lead captured three hours ago and touched now: a median speed-to-lead of 180 minutes."""
    rep = _route_one_lead(org, owner, by_rule=True, captured_at=timezone.now() - datetime.timedelta(hours=3))
    lead = RoutingRequest.objects.for_org(org).get().lead
    sla_services.touch_record(org=org, lead=lead, actor_membership=rep)
    rollup.rollup(org, full=True)
    found = _by_key(symptoms.symptoms(Context.for_day(org)))["symptom.slow_follow_up"]
    assert found["found"], found
    # The engine keeps response times in a quantile sketch: its median is within a few percent.
    minutes = int(
        re.match(r"Leads wait (\d+) minutes \(median\) for a first touch", found["sentence"]).group(1)
    )
    assert abs(minutes - 180) <= 180 * 0.03
