"""Routes of /api/v1/. Every viewset derives from OrgScopedViewSet."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.accounts.api.views import MemberViewSet, OrganizationView, TeamViewSet
from apps.execution.api.views import (
    AssignmentViewSet,
    LeadRoutingViewSet,
    RejectReasonViewSet,
    RoutingViewSet,
)
from apps.integrations.api.views import WebhookDeliveryViewSet, WebhookEndpointViewSet
from apps.measurement.api.attribution import AttributionViewSet
from apps.measurement.api.holdouts import HoldoutTestViewSet
from apps.measurement.api.metrics import MetricViewSet
from apps.measurement.api.spend import SpendViewSet
from apps.records.api.views import (
    AccountViewSet,
    CustomerViewSet,
    LeadViewSet,
    OpportunityViewSet,
    TouchpointViewSet,
)
from apps.strategy.api.goals import GoalViewSet
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

urlpatterns = [
    # One report, not a collection: a plain route keeps its schema an object rather than a list.
    path("attribution/", AttributionViewSet.as_view({"get": "report"}), name="api-attribution"),
    path("waterfall/", WaterfallViewSet.as_view({"get": "report"}), name="api-waterfall"),
    path("organization/", OrganizationView.as_view(), name="api-organization"),
    # Routing seen from a lead; a router cannot register a second viewset under "api-lead".
    path("leads/<pk>/routing/", LeadRoutingViewSet.as_view({"get": "routing"}), name="api-lead-routing"),
    path("leads/<pk>/touches/", LeadRoutingViewSet.as_view({"post": "touches"}), name="api-lead-touches"),
    *router.urls,
]
