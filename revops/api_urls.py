"""Routes of /api/v1/. Every viewset derives from OrgScopedViewSet."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.accounts.api.views import MemberViewSet, OrganizationView, TeamViewSet
from apps.integrations.api.views import WebhookDeliveryViewSet, WebhookEndpointViewSet

router = SimpleRouter(trailing_slash=True)
router.register("members", MemberViewSet, basename="api-member")
router.register("teams", TeamViewSet, basename="api-team")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="api-webhook-endpoint")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="api-webhook-delivery")

urlpatterns = [
    path("organization/", OrganizationView.as_view(), name="api-organization"),
    *router.urls,
]
