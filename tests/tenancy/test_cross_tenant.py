"""Every route, walked as an outsider: another organisation's data is a 404, never a 403, never data.

The test enumerates the URLconf. A route it does not know how to exercise
fails `test_every_route_is_covered`, so a new page or endpoint cannot skip
tenancy: add it to ORG_PAGES, API_ROUTES or PUBLIC_ROUTES below.
"""

import datetime
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from apps.accounts import services as account_services
from apps.accounts.roles import Role
from apps.execution.journeys import services as journey_services
from apps.execution.models import Assignment, PoolMember, RoutingPool, RoutingRequest
from apps.execution.services import campaign_qa as campaign_qa_services
from apps.execution.services import campaigns as campaign_services
from apps.execution.services import experiments as experiment_services
from apps.execution.services import handoffs as handoff_services
from apps.execution.services import playbooks as playbook_services
from apps.execution.services import policies as routing_policies
from apps.execution.services import routing as routing_services
from apps.execution.services import setup as setup_services
from apps.execution.services import utm as utm_services
from apps.governance.models import ChangeRequest
from apps.governance.services import reviews as review_services
from apps.imports import services as import_services
from apps.integrations import services as integration_services
from apps.integrations.models import WebhookDelivery
from apps.measurement.attribution import compute as attribution_compute
from apps.measurement.diagnostic import snapshot as diagnostic_snapshot
from apps.measurement.metrics import engine
from apps.measurement.services import holdouts as holdout_services
from apps.measurement.services import rollup
from apps.measurement.services import spend as spend_services
from apps.quality import services as quality_services
from apps.records import definitions as record_definitions
from apps.records import services as record_services
from apps.records.models import DuplicateCandidate, LifecycleStage
from apps.strategy.models import SavedPlan, Segment
from apps.strategy.services import budget as budget_services
from apps.strategy.services import goals as goal_services
from apps.strategy.services import kpi as kpi_services
from apps.strategy.services import positioning as positioning_services
from apps.strategy.services import programs as program_services
from apps.strategy.services import segments as segment_services
from tests import factories
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

# Routes outside any organisation, each with why it needs no tenant check.
PUBLIC_ROUTES = {
    "healthz": "liveness; no data",
    "readyz": "readiness; details only for staff",
    "home": "redirects to one of the user's own organisations",
    "org_create": "creates a new organisation owned by the caller",
    "invitation_accept": "the token itself grants access; tested in tests/accounts",
    "journey_unsubscribe": "a signed token names the organisation and address; it only adds a suppression",
    "api-schema": "the public OpenAPI schema; no data",
    "api-docs": "interactive docs; no data",
}
PUBLIC_PREFIXES = ("accounts/", "admin/")  # allauth's own pages and Django admin (staff only)

# Organisation pages: route name -> the kind of object its <pk> names (None: no pk).
ORG_PAGES = {
    "org_home": None,
    "strategy_index": None,
    "execution_index": None,
    "measurement_index": None,
    "governance_index": None,
    # governance: operating reviews
    "governance_reviews": None,
    "governance_review_new": None,
    "governance_review": "operating_review",
    "governance_review_hold": "operating_review",
    "governance_review_edit": "operating_review",
    "governance_review_agenda_propose": "operating_review",
    "governance_review_agenda_add": "operating_review",
    "governance_agenda_item_remove": "agenda_item",
    "governance_agenda_item_move": "agenda_item",
    "governance_review_decision_new": "operating_review",
    "governance_review_action_new": "operating_review",
    "governance_actions": None,
    "governance_link_options": None,  # own objects only: tests/governance/test_reviews_views.py
    "governance_action_status": "action_item",
    # governance: change requests to the operating model
    "governance_changes": None,
    "governance_change_new": None,
    "governance_change_control": None,
    "governance_change": "change_request",
    "governance_change_edit": "change_request",
    "governance_change_action": "change_request",
    "settings_org": None,
    "settings_members": None,
    "settings_member_role": "member",
    "settings_member_remove": "member",
    "settings_invitations": None,
    "settings_invitation_revoke": "invitation",
    "settings_teams": None,
    "settings_team": "team",
    "settings_team_delete": "team",
    "settings_api_keys": None,
    "settings_api_key_revoke": "api_key",
    "mfa_required": None,
    "settings_webhooks": None,
    "settings_webhook": "webhook",
    "settings_webhook_rotate": "webhook",
    "settings_webhook_test": "webhook",
    "settings_webhook_delete": "webhook",
    "settings_webhook_delivery": "delivery",
    "settings_webhook_redeliver": "delivery",
    "settings_audit": None,
    "settings_security": None,
    "settings_security_export": None,
    # records pages (lists, detail pages, definitions)
    "records_leads": None,
    "records_leads_export": None,
    "records_leads_bulk": None,
    "records_lead": "lead",
    "records_accounts": None,
    "records_accounts_export": None,
    "records_accounts_bulk": None,
    "records_account": "account",
    "records_opportunities": None,
    "records_opportunities_export": None,
    "records_opportunities_bulk": None,
    "records_opportunity": "opportunity",
    "records_view_save": None,
    "records_view_delete": "saved_view",
    "records_definitions": None,
    "records_stage_edit": "stage",
    "records_definition_version": "stage_version",
    "records_custom_fields": None,
    "records_custom_field_delete": "custom_field",
    # imports pages (CSV import wizard)
    "imports_index": None,
    "imports_job": "import_job",
    "imports_mapping": "import_job",
    "imports_preview": "import_job",
    "imports_progress": "import_job",
    "imports_errors": "import_job",
    "imports_cancel": "import_job",
    # quality pages (duplicates, merges, sources, completeness)
    "quality_index": None,
    "quality_duplicates": None,
    "quality_duplicate": "duplicate",
    "quality_duplicate_merge": "duplicate",
    "quality_duplicate_dismiss": "duplicate",
    "quality_merges": None,
    "quality_merge_undo": "merge",
    "quality_sources": None,
    "quality_source_delete": "source_mapping",
    "quality_sources_reapply": None,
    "quality_completeness": None,
    "quality_completeness_delete": "completeness_rule",
    # execution reports (speed to lead, SLA compliance, rejections, fairness, the offers list)
    "execution_reports": None,
    "execution_offers": None,
    "execution_sla_report": None,
    "execution_rejections_report": None,
    "execution_fairness_report": None,
    # execution inbox, manager queue and notifications
    "execution_inbox": None,
    "execution_assignment_accept": "assignment",
    "execution_assignment_reject": "assignment",
    "execution_lead_touch": "lead",
    "execution_queue": None,
    "execution_assignment_reassign": "assignment",
    "execution_lead_route": "lead",
    "execution_account_route": "account",
    "execution_opportunity_route": "opportunity",
    "execution_rep_availability": "member",
    "execution_notifications": None,
    "execution_notifications_count": None,
    "execution_notifications_read": None,
    # execution set-up: routing rules, simulator, queues, reps, calendars, reject reasons, SLA policies
    "execution_routing": None,
    "execution_routing_rule_new": None,
    "execution_routing_rule": None,
    "execution_routing_rule_delete": None,
    "execution_routing_rule_move": None,
    "execution_routing_fallback": None,
    "execution_routing_publish": None,
    "execution_routing_version": "policy_version",
    # the account and opportunity policies: the same pages under routing/accounts/ and routing/opportunities/
    **{
        f"execution_routing_{objects}{page}": None
        for objects in ("accounts", "opportunities")
        for page in ("", "_rule_new", "_rule", "_rule_delete", "_rule_move", "_fallback", "_publish")
    },
    "execution_simulator": None,
    "execution_pools": None,
    "execution_pool": "pool",
    "execution_pool_delete": "pool",
    "execution_reps": None,
    "execution_rep": "member",
    "execution_rep_absence_delete": "absence",
    "execution_calendars": None,
    "execution_calendar": "calendar",
    "execution_reject_reasons": None,
    "execution_reject_reason": "reject_reason",
    "execution_sla_policies": None,
    "execution_sla_policy": "sla_policy",
    # execution: journeys and their e-mail templates
    "execution_journeys": None,
    "execution_journey_new": None,
    "execution_journey": "journey",
    "execution_journey_step_save": "journey",
    "execution_journey_step_delete": "journey",
    "execution_journey_step_move": "journey",
    "execution_journey_publish": "journey",
    "execution_journey_pause": "journey",
    "execution_journey_archive": "journey",
    "execution_journey_resume": "journey",
    "execution_journey_enroll": "journey",
    "execution_journey_export": "journey",
    "execution_email_templates": None,
    "execution_email_template": "email_template",
    # measurement: the spend ledger and the incrementality register
    "measurement_spend": None,
    "measurement_spend_new": None,
    "measurement_spend_export": None,
    "measurement_spend_import": None,
    "measurement_spend_edit": "spend_entry",
    "measurement_spend_delete": "spend_entry",
    "measurement_holdouts": None,
    "measurement_metric": None,
    "measurement_metric_export": None,
    "measurement_holdout_new": None,
    "measurement_holdout_edit": "holdout_test",
    "measurement_holdout_delete": "holdout_test",
    # measurement: the attribution workbench
    "measurement_attribution": None,
    "measurement_attribution_export": None,
    "measurement_attribution_settings": None,
    "measurement_attribution_opportunity": "opportunity",
    # measurement: the review dashboards (weekly, quarterly, funnel) and their CSV exports
    "measurement_weekly": None,
    "measurement_weekly_export": None,
    "measurement_quarterly": None,
    "measurement_quarterly_export": None,
    "measurement_funnel": None,
    "measurement_funnel_export": None,
    # measurement: the pipeline dashboard and the leaks and red flags page, with their CSV exports
    "measurement_pipeline": None,
    "measurement_pipeline_export": None,
    "measurement_leaks": None,
    "measurement_leaks_export": None,
    # measurement: the growth diagnostic, its recompute action and its CSV export
    "measurement_diagnostic": None,
    "measurement_diagnostic_recompute": None,
    "measurement_diagnostic_export": None,
    # strategy: goals per fiscal quarter (strategy_index is the goals page)
    "strategy_goal_new": None,
    "strategy_goal": "goal",
    "strategy_goal_edit": "goal",
    "strategy_goal_delete": "goal",
    "strategy_waterfall": None,
    "strategy_waterfall_export": None,
    # strategy: the KPI tree
    "strategy_kpi_tree": None,
    "strategy_kpi_export": None,
    "strategy_kpi_node_new": None,
    "strategy_kpi_node": "kpi_node",
    "strategy_kpi_node_edit": "kpi_node",
    "strategy_kpi_node_delete": "kpi_node",
    "strategy_kpi_node_target": "kpi_node",
    "strategy_kpi_node_value": "kpi_node",
    # strategy: positioning per segment, offers, the marketing plan
    "strategy_positioning": None,
    "strategy_positioning_edit": "positioned_segment",
    "strategy_positioning_history": "positioned_segment",
    "strategy_offers": None,
    "strategy_offer_new": None,
    "strategy_offer": "offer",
    "strategy_offer_edit": "offer",
    "strategy_offer_active": "offer",
    "strategy_programs": None,
    "strategy_programs_export": None,
    "strategy_program_new": None,
    "strategy_program": "program",
    "strategy_program_edit": "program",
    "strategy_program_status": "program",
    "strategy_program_items": "program",
    "strategy_program_delete": "program",
    "strategy_channels": None,
    "strategy_channels_export": None,
    "strategy_channel_new": None,
    "strategy_channels_copy": None,
    "strategy_channel_edit": "channel_budget",
    "strategy_channel_delete": "channel_budget",
    "strategy_reallocation": None,
    "strategy_plans": None,
    "strategy_plan_new": None,
    "strategy_plan_compare": None,  # ?first=&second= ids; tests/strategy/test_plans.py probes them
    "strategy_plan": "saved_plan",
    "strategy_plan_edit": "saved_plan",
    "strategy_plan_primary": "saved_plan",
    "strategy_plan_copy": "saved_plan",
    "strategy_plan_delete": "saved_plan",
    "strategy_segments": None,
    "strategy_segment_new": None,
    "strategy_segment": "segment",
    "strategy_segment_edit": "segment",
    "strategy_segment_delete": "segment",
    "strategy_segment_recompute": "segment",
    "strategy_segment_recompute_status": "segment",
    "strategy_segment_export": "segment",
    "strategy_reviews": None,
    # execution: campaigns from intake to results, the QA checklist, the UTM taxonomy
    "execution_campaigns": None,
    "execution_campaign_new": None,
    "execution_campaigns_calendar": None,
    "execution_qa_checklist": None,
    "execution_qa_check": "qa_check",
    "execution_campaign": "campaign",
    "execution_campaign_edit": "campaign",
    "execution_campaign_move": "campaign",
    "execution_campaign_qa": "campaign",
    "execution_campaign_qa_tick": "campaign",
    "execution_utm_taxonomy": None,
    "execution_utm_builder": None,
    "execution_utm_violations": None,
    # execution: hand-offs, no man's land, experiments, playbooks
    "execution_handoffs": None,
    "execution_handoffs_export": None,
    "execution_handoff": "handoff",
    "execution_handoff_accept": "handoff",
    "execution_handoff_return": "handoff",
    "execution_no_mans_land": None,
    "execution_no_mans_land_export": None,
    "execution_experiments": None,
    "execution_experiment_new": None,
    "execution_experiment": "experiment",
    "execution_experiment_edit": "experiment",
    "execution_experiment_start": "experiment",
    "execution_experiment_stop": "experiment",
    "execution_playbooks": None,
    "execution_playbook_new": None,
    "execution_playbook": "playbook",
    "execution_playbook_edit": "playbook",
    "execution_playbook_delete": "playbook",
}

# Organisation pages whose address names something other than an object: the extra URL arguments.
ORG_PAGE_ARGS = {
    "measurement_metric": {"key": "leads"},
    "measurement_metric_export": {"key": "leads"},
    "execution_routing_rule": {"index": 0},
    "execution_routing_rule_delete": {"index": 0},
    "execution_routing_rule_move": {"index": 0},
    **{
        f"execution_routing_{objects}_rule{page}": {"index": 0}
        for objects in ("accounts", "opportunities")
        for page in ("", "_delete", "_move")
    },
}

# API routes: route name -> the kind of object its <pk> names (None: list or singleton).
API_ROUTES = {
    "api-journey-list": None,
    "api-journey-detail": "journey",
    "api-journey-publish": "journey",
    "api-journey-pause": "journey",
    "api-journey-archive": "journey",
    "api-journey-resume": "journey",
    "api-journey-enroll": "journey",
    "api-journey-enrollments": "journey",
    "api-journey-events": "probe:lead",  # POST naming the victim's lead in its body
    "api-email-template-list": None,
    "api-email-template-detail": "email_template",
    "api-organization": None,
    "api-member-list": None,
    "api-member-detail": "member",
    "api-team-list": None,
    "api-team-detail": "team",
    "api-webhook-endpoint-list": None,
    "api-webhook-endpoint-detail": "webhook",
    "api-webhook-delivery-list": None,
    "api-lead-list": None,
    "api-lead-detail": "lead",
    "api-lead-history": "lead",
    "api-lead-stage": "lead",
    "api-lead-bulk": "bulk:lead",
    "api-lead-merge": "lead",
    "api-account-list": None,
    "api-account-detail": "account",
    "api-account-bulk": "bulk:account",
    "api-opportunity-list": None,
    "api-opportunity-detail": "opportunity",
    "api-touchpoint-list": None,
    "api-touchpoint-detail": "touchpoint",
    "api-touchpoint-bulk": "bulk:touchpoint",
    "api-customer-list": None,
    "api-customer-detail": "customer",
    "api-webhook-delivery-detail": "delivery",
    "api-webhook-delivery-redeliver": "delivery",
    # routing (a lead's decisions and touches, assignments, reject reasons, previews)
    "api-lead-routing": "lead",
    "api-lead-touches": "lead",
    "api-assignment-list": None,
    "api-assignment-detail": "assignment",
    "api-assignment-accept": "assignment",
    "api-assignment-reject": "assignment",
    "api-reject-reason-list": None,
    "api-routing-preview": "probe:lead",  # POST naming the victim's lead in its body; account and
    # opportunity probes: tests/execution/test_ownership_routing.py
    "api-account-routing": "account",
    "api-opportunity-routing": "opportunity",
    # measurement (an upsert by the victim's external id: tests/measurement/test_spend.py)
    "api-spend-list": None,
    "api-spend-detail": "spend_entry",
    "api-holdout-test-list": None,
    "api-holdout-test-detail": "holdout_test",
    "api-attribution": None,
    "api-metric-list": None,
    "api-metric-detail": "metric:leads",  # a catalogue key: the caller's own numbers, never the victim's
    "api-goal-list": None,
    "api-goal-detail": "goal",
    "api-kpi-tree": None,
    "api-dashboard-weekly": None,
    "api-dashboard-quarterly": None,
    "api-dashboard-funnel": None,
    "api-dashboard-pipeline": None,
    "api-leaks": None,
    "api-red-flags": None,
    "api-diagnostic": None,
    "api-diagnostic-components": None,
    "api-kpi-node-list": None,
    "api-kpi-node-detail": "kpi_node",
    "api-kpi-node-targets": "kpi_node",
    "api-kpi-node-values": "kpi_node",
    "api-offer-list": None,
    "api-offer-detail": "offer",
    "api-positioning-list": None,
    "api-positioning-detail": "positioning",
    "api-program-list": None,
    "api-program-detail": "program",
    "api-channel-budget-list": None,
    "api-channel-budget-detail": "channel_budget",
    "api-channel-budget-summary": None,
    "api-channel-budget-reallocation": None,
    "api-plan-list": None,
    "api-plan-detail": "saved_plan",
    "api-plan-waterfall": "saved_plan",
    "api-review-list": None,
    "api-review-detail": "operating_review",
    "api-review-hold": "operating_review",
    "api-review-decisions": "operating_review",
    "api-action-item-list": None,
    "api-action-item-detail": "action_item",
    "api-waterfall": "report:waterfall",
    "api-segment-list": None,
    "api-segment-detail": "segment",
    "api-segment-members": "segment",
    "api-segment-comparison": "segment",
    "api-campaign-list": None,
    "api-campaign-detail": "campaign",
    "api-campaign-transition": "campaign",
    "api-campaign-qa": "campaign",
    "api-utm-taxonomy": None,  # the caller's own taxonomy; the victim's is never read
    "api-utm-validate": None,  # judged against the caller's own taxonomy
    "api-handoff-list": None,
    "api-handoff-detail": "handoff",
    "api-handoff-accept": "handoff",
    "api-handoff-return": "handoff",
    "api-experiment-list": None,
    "api-experiment-detail": "experiment",
    "api-experiment-start": "experiment",
    "api-experiment-stop": "experiment",
    "api-experiment-results": "experiment",
    "api-playbook-list": None,
    "api-playbook-detail": "playbook",
    "api-change-request-list": None,
    "api-change-request-detail": "change_request",
    "api-change-request-submit": "change_request",
    "api-change-request-approve": "change_request",
    "api-change-request-reject": "change_request",
    "api-change-request-apply": "change_request",
    "api-change-request-rollback": "change_request",
    "api-change-request-rebase": "change_request",
    "api-change-request-preview": "change_request",
}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern.name


def all_routes():
    return list(_walk(get_resolver().url_patterns))


def test_every_route_is_covered():
    unknown = []
    for route, name in all_routes():
        if route.startswith(PUBLIC_PREFIXES) or name in PUBLIC_ROUTES:
            continue
        if name in ORG_PAGES or name in API_ROUTES:
            continue
        unknown.append(f"{route} (name={name})")
    assert not unknown, "Routes with no cross-tenant coverage; add them to this test:\n" + "\n".join(unknown)


def test_registry_names_exist():
    names = {name for _, name in all_routes()}
    stale = sorted((set(ORG_PAGES) | set(API_ROUTES)) - names)
    assert not stale, f"Registered routes that no longer exist: {stale}"


@pytest.fixture
def victim(org, owner):
    """The organisation under attack, with one object of every kind."""
    member = factories.make_member(org, role=Role.SALES_REP)
    team = account_services.team_create(org=org, name="Secret team", members=[member])
    invitation, _ = account_services.invitation_create(
        org=org, email="newbie@acme.test", role=Role.VIEWER, invited_by=owner
    )
    api_key, _ = factories.make_api_key(org, name="Secret key")
    webhook = integration_services.webhook_endpoint_create(org=org, url="https://hooks.acme.test/in")
    event = integration_services.webhook_send_test(org=org, endpoint=webhook)
    integration_services.outbox_relay()
    delivery = WebhookDelivery.objects.get(event=event)
    account = record_services.account_create(
        org=org, name="Secret Account", domain="secret.test", external_id="A-1"
    )
    lead = record_services.lead_create(
        org=org, email="secret@secret.test", first_name="Secret", company="Secret Inc", external_id="L-1"
    )
    opportunity = record_services.opportunity_create(
        org=org, name="Secret deal", account=account, amount=1000
    )
    touchpoint = record_services.touchpoint_create(org=org, lead=lead, source="Secret", external_id="T-1")
    customer = record_services.customer_create(
        org=org, account=account, arr=1200, start_date=datetime.date(2026, 1, 1)
    )
    stage = LifecycleStage.objects.for_org(org).get(key="mql")
    stage_version = record_services.stage_update(
        org=org, stage=stage, actor=owner, note="Secret change", entry_criteria="Secret criterion"
    )
    custom_field = record_definitions.custom_field_create(
        org=org, object_type="lead", key="secret_field", label="Secret field"
    )
    saved_view = record_definitions.saved_view_create(
        org=org, owner=member, object_type="lead", name="Secret view", visibility="organization"
    )
    twin = record_services.lead_create(org=org, email="secret@secret.test", first_name="Secret Twin")
    duplicate = DuplicateCandidate.objects.get(organization=org, lead=twin)
    merged_away = record_services.lead_create(org=org, email="gone@secret.test", first_name="Secret Gone")
    merge = quality_services.lead_merge(org=org, survivor=lead, merged=merged_away)
    source_mapping = quality_services.source_mapping_create(org=org, raw_value="secret", channel="Secret")
    completeness_rule = quality_services.completeness_rule_create(
        org=org, object_type="lead", field="utm_campaign", weight=2
    )
    import_job = import_services.import_upload(
        org=org,
        actor=owner,
        file=SimpleUploadedFile("secret.csv", b"Email,First Name\r\nsecret@secret.test,Secret\r\n"),
        file_name="secret.csv",
        object_type="lead",
    )
    # Routing: a catch-all policy over a pool of `member`, and a lead routed to them. The
    # fixture runs inside the test's transaction, where routing on commit never fires.
    routing_pool = RoutingPool.objects.create(organization=org, name="Secret pool")
    PoolMember.objects.create(organization=org, pool=routing_pool, membership=member)
    policy = routing_policies.policy_for(org)
    routing_policies.draft_update(
        org=org,
        policy=policy,
        rules=[
            {"name": "Secret rule", "conditions": [], "action": {"type": "pool", "pool": routing_pool.pk}}
        ],
    )
    policy_version = routing_policies.policy_publish(org=org, policy=policy, actor=owner)
    for object_type in ("account", "opportunity"):  # their pages must not show these either
        routing_policies.draft_update(
            org=org,
            policy=routing_policies.policy_for(org, object_type),
            rules=[{"name": f"Secret {object_type} rule", "conditions": [],
                    "action": {"type": "pool", "pool": routing_pool.pk}}],
            fallback_pool=routing_pool,
        )  # fmt: skip
    calendar = setup_services.calendar_create(
        org=org, name="Secret calendar", time_zone="UTC", hours={}, holidays=[{"date": "2026-12-25"}]
    )
    reject_reason = setup_services.reject_reason_create(org=org, label="Secret reason")
    sla_policy = setup_services.sla_policy_create(org=org, name="Secret SLA", target_minutes=15)
    absence = setup_services.absence_create(
        org=org,
        membership=member,
        starts_at=datetime.datetime(2026, 7, 1, tzinfo=datetime.UTC),
        ends_at=datetime.datetime(2026, 7, 2, tzinfo=datetime.UTC),
        note="Secret trip",
    )
    routed = record_services.lead_create(org=org, email="routed@secret.test", first_name="Secret Routed")
    routing_services.route_request(request_id=RoutingRequest.objects.get(organization=org, lead=routed).pk)
    assignment = Assignment.objects.get(organization=org, lead=routed)
    spend_entry = spend_services.spend_create(
        org=org,
        channel="Secret Channel",
        period_start=datetime.date(2026, 3, 1),
        period_end=datetime.date(2026, 3, 31),
        amount=1000,
        note="Secret invoice",
        external_id="S-1",
    )
    holdout_test = holdout_services.holdout_create(
        org=org,
        name="Secret holdout",
        period_start=datetime.date(2026, 3, 1),
        period_end=datetime.date(2026, 3, 31),
        treatment_size=100,
        treatment_conversions=10,
        control_size=100,
        control_conversions=5,
    )
    goal = goal_services.goal_create(
        org=org, metric="new_bookings", fiscal_year=2026, quarter=1, owner=member, team=team, target=1000,
        note="Secret goal",
    )  # fmt: skip
    saved_plan = SavedPlan.objects.create(
        organization=org, name="Secret plan", fiscal_year=2026, quarter=1, params={"target": "1000"}
    )
    channel_budget = budget_services.budget_create(
        org=org, fiscal_year=2026, quarter=1, channel="Secret Channel", planned_spend=900, note="Secret line"
    )
    positioned_segment = Segment.objects.create(
        organization=org, key="secret-positioned", name="Secret positioned segment"
    )
    positioning = positioning_services.positioning_save(
        org=org, segment=positioned_segment, value_propositions=["Secret proposition"], owner=member
    )
    offer = positioning_services.offer_create(
        org=org, name="Secret offer", type="demo", segment=positioned_segment, owner=member
    )
    before = program_services.program_create(
        org=org, name="Secret earlier program", objective="Secret", start="2026-01-01", end="2026-01-31"
    )
    program = program_services.program_create(
        org=org, name="Secret program", objective="Secret objective", start="2026-02-01", end="2026-03-31",
        owner=member, segment=positioned_segment, offer=offer, goal=goal, depends_on=[before],
        budget_lines=[{"channel": "Secret Channel", "description": "Secret line", "amount": 100}],
        targets=[{"metric": "leads", "target": 10}],
    )  # fmt: skip
    kpi_node = kpi_services.kpi_node_create(org=org, name="Secret KPI", owner=member, description="Secret")
    kpi_services.kpi_target_set(org=org, node=kpi_node, period_start=datetime.date(2026, 3, 1), value=10)
    kpi_services.kpi_value_set(org=org, node=kpi_node, period_start=datetime.date(2026, 3, 1), value=7)
    attribution_compute.rebuild(org, None)  # the opportunity's credit: "Secret" as its touch's source
    segment = segment_services.segment_create(
        org=org, key="secret-icp", name="Secret ICP", is_icp=True, owner=member,
        rules=[{"name": "Secret rule", "points": 1,
                "conditions": [{"field": "email", "op": "is_not_empty"}]}],
    )  # fmt: skip
    handoff = handoff_services.handoff_create(
        org=org, kind="mql_to_sal", lead=lead, receiver=member, notes="Secret notes", strict=False
    )
    experiment = experiment_services.experiment_create(
        org=org, name="Secret experiment", goal={"type": "opportunity_created"},
        variants=[{"key": "a", "name": "Secret A"}, {"key": "b", "name": "Secret B"}],
    )  # fmt: skip
    experiment_services.experiment_start(org=org, experiment=experiment)
    playbook = playbook_services.playbook_create(org=org, title="Secret playbook", body="Secret", stage=stage)
    utm_services.taxonomy_update(
        org=org, allowed_sources=["secret-source"], allowed_mediums=["secret-medium"],
        campaign_pattern="secret-.*", campaign_pattern_help="Secret naming rule",
    )  # fmt: skip
    campaign = campaign_services.campaign_request(
        org=org, requested_by=member, name="Secret campaign", type="webinar", utm_campaign="secret-campaign",
        brief="Secret brief", program=program, segment=segment, offer=offer,
    )  # fmt: skip
    qa_check = campaign_qa_services.qa_check_create(org=org, kind="manual", label="Secret check")
    email_template = journey_services.email_template_create(
        org=org, name="Secret template", subject="Secret subject", body="Secret body"
    )
    journey = journey_services.journey_create(
        org=org, name="Secret journey", motion="nurture",
        draft_steps=[{"id": "s1", "type": "email", "email": {"template": email_template.pk}}],
    )  # fmt: skip
    campaign_qa_services.qa_run(org=org, campaign=campaign)
    # Red flags of the victim (a live campaign without tracking, a KPI without owner) never reach another
    # organisation's red flags.
    type(campaign).objects.create(
        organization=org, name="Secret live campaign", type="webinar", status="live"
    )
    kpi_services.kpi_node_create(org=org, name="Secret unowned KPI")
    operating_review = review_services.review_create(
        org=org, kind="weekly", day=datetime.date(2026, 3, 2), today=datetime.date(2026, 3, 2),
        notes="Secret review notes", attendees=[member], propose=False,
    )  # fmt: skip
    agenda_item = review_services.agenda_add(org=org, review=operating_review, title="Secret agenda item")
    review_services.decision_add(
        org=org, review=operating_review, text="Secret decision", agenda_item=agenda_item
    )
    action_item = review_services.action_add(
        org=org, review=operating_review, title="Secret action item", owner=member, due="2026-03-09",
        subject_type="campaign", subject_id=campaign.pk,
    )  # fmt: skip
    change_request = ChangeRequest.objects.create(
        organization=org,
        subject="metrics",
        title="Secret change request",
        rationale="Secret rationale",
        proposed={"attribution_lookback_days": 30, "time_decay_half_life_days": 7.0, "gross_margin": 0.5},
        before={"attribution_lookback_days": 90, "time_decay_half_life_days": 7.0, "gross_margin": 0.8},
    )
    # The victim's diagnostic (its evidence names the "Secret" records above) never reaches another
    # organisation's diagnostic, page, CSV or API.
    diagnostic_snapshot.take(org)
    return {
        "journey": journey,
        "email_template": email_template,
        "campaign": campaign,
        "qa_check": qa_check,
        "handoff": handoff,
        "experiment": experiment,
        "playbook": playbook,
        "segment": segment,
        "kpi_node": kpi_node,
        "positioned_segment": positioned_segment,
        "positioning": positioning,
        "offer": offer,
        "program": program,
        "channel_budget": channel_budget,
        "saved_plan": saved_plan,
        "operating_review": operating_review,
        "agenda_item": agenda_item,
        "action_item": action_item,
        "change_request": change_request,
        "goal": goal,
        "spend_entry": spend_entry,
        "holdout_test": holdout_test,
        "pool": routing_pool,
        "policy_version": policy_version,
        "calendar": calendar,
        "reject_reason": reject_reason,
        "sla_policy": sla_policy,
        "absence": absence,
        "assignment": assignment,
        "import_job": import_job,
        "duplicate": duplicate,
        "merge": merge,
        "source_mapping": source_mapping,
        "completeness_rule": completeness_rule,
        "stage": stage,
        "stage_version": stage_version,
        "custom_field": custom_field,
        "saved_view": saved_view,
        "lead": lead,
        "account": account,
        "opportunity": opportunity,
        "touchpoint": touchpoint,
        "customer": customer,
        "org": org,
        "member": member,
        "team": team,
        "invitation": invitation,
        "api_key": api_key,
        "webhook": webhook,
        "delivery": delivery,
    }


def _org_route_names():
    return [name for _, name in all_routes() if name in ORG_PAGES]


@pytest.mark.parametrize("name", sorted(ORG_PAGES))
def test_outsider_gets_404_on_every_org_page(name, victim, outsider_client, other_org):
    kind = ORG_PAGES[name]
    kwargs = {"org_slug": victim["org"].slug, **ORG_PAGE_ARGS.get(name, {})}
    if kind:
        kwargs["pk"] = victim[kind].pk
    url = reverse(name, kwargs=kwargs)
    for method in ("get", "post"):
        response = getattr(outsider_client, method)(url)
        assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
        assert b"Secret" not in response.content

    if kind:
        # Their own organisation's address, our object's id: still nothing.
        own_url = reverse(name, kwargs={"org_slug": other_org.slug, "pk": victim[kind].pk})
        for method in ("get", "post"):
            response = getattr(outsider_client, method)(own_url)
            assert response.status_code == 404, f"{method.upper()} {own_url} -> {response.status_code}"


def test_anonymous_visitors_are_sent_to_login(client, victim):
    response = client.get(reverse("settings_teams", kwargs={"org_slug": victim["org"].slug}))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("name", sorted(API_ROUTES))
def test_outsider_key_never_reaches_another_orgs_objects(name, victim, other_org):
    outsider_api = api_client_for(other_org)
    kind = API_ROUTES[name]
    if kind and kind.startswith("bulk:"):
        # Upserting by the victim's external ids creates rows in the caller's own org only.
        target = victim[kind.removeprefix("bulk:")]
        item = {"external_id": target.external_id}
        item.update(
            {"lead": {"email": "x@globex.test"}, "account": {"name": "X"}, "touchpoint": {}}[kind[5:]]
        )
        if kind == "bulk:touchpoint":
            item["lead"] = victim["lead"].pk  # someone else's lead: refused, not linked
        response = outsider_api.post(reverse(name), {"items": [item]}, format="json")
        assert response.status_code == 200, response.content
        result = response.json()["results"][0]
        assert result["status"] in {"created", "error"}, result
        target.refresh_from_db()
        assert target.organization_id == victim["org"].pk
        model = type(target)
        assert model.objects.filter(external_id=target.external_id, organization=victim["org"]).count() == 1
        assert "Secret" not in response.content.decode()
        return
    if kind and kind.startswith("metric:"):
        rollup.rollup(victim["org"], full=True)
        key = kind.removeprefix("metric:")
        assert engine.evaluate(victim["org"], *engine.parse(key, {})[:2]).total > 0  # the victim's are there
        response = outsider_api.get(reverse(name, kwargs={"pk": key}))
        assert response.status_code == 200, response.content
        assert response.json()["total"] == 0
        return
    if kind and kind.startswith("probe:"):
        # The victim's id in a request body is a field error, never a link to their object.
        field = kind.removeprefix("probe:")
        response = outsider_api.post(reverse(name), {field: victim[field].pk}, format="json")
        assert response.status_code == 400, response.content
        assert field in response.json()["error"]["fields"]
        assert "Secret" not in response.content.decode()
        return
    if kind == "report:waterfall":
        # The victim's organisation-wide goal is never the outsider's default target.
        goal_services.goal_create(
            org=victim["org"], metric="new_bookings", fiscal_year=2026, quarter=1,
            owner=victim["goal"].owner, team=None, target=5000, note="Secret org goal",
        )  # fmt: skip
        response = outsider_api.get(reverse(name), {"fiscal_year": 2026, "quarter": 1})
        assert response.status_code == 400, response.content
        assert "target" in response.json()["error"]["fields"]
        assert "Secret" not in response.content.decode()
        return
    if kind is None:
        response = outsider_api.get(reverse(name))
        assert response.status_code == 200, response.content
        body = response.content.decode()
        assert "Secret" not in body
        assert "hooks.acme.test" not in body
        assert f'"slug":"{victim["org"].slug}"' not in body.replace(" ", "")
        return
    url = reverse(name, kwargs={"pk": victim[kind].pk})
    # Every method the route answers (a viewset's action map), so writes are covered too.
    methods = list(resolve(url).func.actions)
    assert methods
    for method in methods:
        response = getattr(outsider_api, method)(url, {}, format="json")
        assert response.status_code == 404, f"{method.upper()} {url} -> {response.status_code}"
        if method != "head":  # HEAD answers carry no body
            assert response.json()["error"]["code"] == "not_found"
    # Nothing was changed or removed on the victim's side.
    model = type(victim[kind])
    assert model.objects.filter(pk=victim[kind].pk).exists()


def test_api_routes_are_the_ones_registered():
    api_names = {name for route, name in all_routes() if route.startswith("api/v1/")}
    assert api_names == set(API_ROUTES), "API routes changed: update API_ROUTES"


def test_pages_route_names_match_the_url_shapes():
    for route, name in all_routes():
        if name in ORG_PAGES:
            has_pk = "<int:pk>" in route or "<pk>" in route
            assert has_pk == (ORG_PAGES[name] is not None), f"{name}: {route}"
            assert route.startswith("o/<slug:org_slug>/"), route
        if API_ROUTES.get(name) and not API_ROUTES[name].startswith(("bulk:", "probe:", "report:")):
            assert re.search(r"\(\?P<pk>", route) or "<pk>" in route, route
