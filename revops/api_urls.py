"""Routes of /api/v1/. Every viewset derives from OrgScopedViewSet."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.accounts.api.views import MemberViewSet, OrganizationView, TeamViewSet
from apps.execution.api.campaigns import CampaignViewSet, UtmTaxonomyViewSet, UtmValidateViewSet
from apps.execution.api.experiments import ExperimentViewSet
from apps.execution.api.handoffs import HandoffViewSet
from apps.execution.api.journeys import EmailTemplateViewSet, JourneyViewSet
from apps.execution.api.playbooks import PlaybookViewSet
from apps.execution.api.views import (
    AccountRoutingViewSet,
    AssignmentViewSet,
    LeadRoutingViewSet,
    OpportunityRoutingViewSet,
    RejectReasonViewSet,
    RoutingViewSet,
)
from apps.governance.api.changes import ChangeRequestViewSet
from apps.governance.api.reviews import ActionItemViewSet, ReviewViewSet
from apps.integrations.api.views import WebhookDeliveryViewSet, WebhookEndpointViewSet
from apps.measurement.api.attribution import AttributionViewSet
from apps.measurement.api.dashboards import DashboardViewSet
from apps.measurement.api.diagnostic import DiagnosticViewSet
from apps.measurement.api.holdouts import HoldoutTestViewSet
from apps.measurement.api.metrics import MetricViewSet
from apps.measurement.api.pipeline import PipelineViewSet
from apps.measurement.api.spend import SpendViewSet
from apps.records.api.views import (
    AccountViewSet,
    CustomerViewSet,
    LeadViewSet,
    OpportunityViewSet,
    TouchpointViewSet,
)
from apps.strategy.api.budget import ChannelBudgetViewSet
from apps.strategy.api.goals import GoalViewSet
from apps.strategy.api.kpi import KpiNodeViewSet, KpiTreeViewSet
from apps.strategy.api.plans import PlanViewSet
from apps.strategy.api.positioning import OfferViewSet, PositioningViewSet
from apps.strategy.api.programs import ProgramViewSet
from apps.strategy.api.segments import SegmentViewSet
from apps.strategy.api.waterfall import WaterfallViewSet

router = SimpleRouter(trailing_slash=True)
router.register("members", MemberViewSet, basename="api-member")
router.register("teams", TeamViewSet, basename="api-team")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="api-webhook-endpoint")
router.register("leads", LeadViewSet, basename="api-lead")
router.register("accounts", AccountViewSet, basename="api-account")
router.register("opportunities", OpportunityViewSet, basename="api-opportunity")
router.register("touchpoints", TouchpointViewSet, basename="api-touchpoint")
router.register("customers", CustomerViewSet, basename="api-customer")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="api-webhook-delivery")
router.register("assignments", AssignmentViewSet, basename="api-assignment")
router.register("reject-reasons", RejectReasonViewSet, basename="api-reject-reason")
router.register("routing", RoutingViewSet, basename="api-routing")
router.register("spend", SpendViewSet, basename="api-spend")
router.register("holdout-tests", HoldoutTestViewSet, basename="api-holdout-test")
router.register("metrics", MetricViewSet, basename="api-metric")
router.register("goals", GoalViewSet, basename="api-goal")
router.register("segments", SegmentViewSet, basename="api-segment")
router.register("kpi-nodes", KpiNodeViewSet, basename="api-kpi-node")
router.register("offers", OfferViewSet, basename="api-offer")
router.register("positioning", PositioningViewSet, basename="api-positioning")
router.register("programs", ProgramViewSet, basename="api-program")
router.register("channel-budget", ChannelBudgetViewSet, basename="api-channel-budget")
router.register("plans", PlanViewSet, basename="api-plan")
router.register("journeys", JourneyViewSet, basename="api-journey")
router.register("email-templates", EmailTemplateViewSet, basename="api-email-template")
router.register("handoffs", HandoffViewSet, basename="api-handoff")
router.register("experiments", ExperimentViewSet, basename="api-experiment")
router.register("playbooks", PlaybookViewSet, basename="api-playbook")
router.register("campaigns", CampaignViewSet, basename="api-campaign")
router.register("change-requests", ChangeRequestViewSet, basename="api-change-request")
router.register("reviews", ReviewViewSet, basename="api-review")
router.register("action-items", ActionItemViewSet, basename="api-action-item")

urlpatterns = [
    # One report, not a collection: a plain route keeps its schema an object rather than a list.
    path("attribution/", AttributionViewSet.as_view({"get": "report"}), name="api-attribution"),
    path("waterfall/", WaterfallViewSet.as_view({"get": "report"}), name="api-waterfall"),
    path("kpi-tree/", KpiTreeViewSet.as_view({"get": "tree"}), name="api-kpi-tree"),
    path("dashboards/weekly/", DashboardViewSet.as_view({"get": "weekly"}), name="api-dashboard-weekly"),
    path(
        "dashboards/quarterly/",
        DashboardViewSet.as_view({"get": "quarterly"}),
        name="api-dashboard-quarterly",
    ),
    path("dashboards/funnel/", DashboardViewSet.as_view({"get": "funnel"}), name="api-dashboard-funnel"),
    path("dashboards/pipeline/", PipelineViewSet.as_view({"get": "report"}), name="api-dashboard-pipeline"),
    path("leaks/", PipelineViewSet.as_view({"get": "leaks"}), name="api-leaks"),
    path("red-flags/", PipelineViewSet.as_view({"get": "red_flags"}), name="api-red-flags"),
    path("diagnostic/", DiagnosticViewSet.as_view({"get": "report"}), name="api-diagnostic"),
    path(
        "diagnostic/components.csv",
        DiagnosticViewSet.as_view({"get": "components"}),
        name="api-diagnostic-components",
    ),
    path("organization/", OrganizationView.as_view(), name="api-organization"),
    # The organisation's one UTM taxonomy, and a validator that stores nothing.
    path(
        "utm-taxonomy/",
        UtmTaxonomyViewSet.as_view({"get": "current", "put": "replace"}),
        name="api-utm-taxonomy",
    ),
    path(
        "utm/validate/",
        UtmValidateViewSet.as_view({"get": "check_query", "post": "check_body"}),
        name="api-utm-validate",
    ),
    # Routing seen from a lead; a router cannot register a second viewset under "api-lead".
    path("leads/<pk>/routing/", LeadRoutingViewSet.as_view({"get": "routing"}), name="api-lead-routing"),
    path("leads/<pk>/touches/", LeadRoutingViewSet.as_view({"post": "touches"}), name="api-lead-touches"),
    path(
        "accounts/<pk>/routing/",
        AccountRoutingViewSet.as_view({"get": "routing"}),
        name="api-account-routing",
    ),
    path(
        "opportunities/<pk>/routing/",
        OpportunityRoutingViewSet.as_view({"get": "routing"}),
        name="api-opportunity-routing",
    ),
    *router.urls,
]
