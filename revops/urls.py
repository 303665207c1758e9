from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from apps.core import views as core_views
from apps.execution.views import journeys as execution_journeys
from apps.execution.views import overview as execution_overview
from apps.governance.views import reviews as governance_reviews
from apps.measurement.views import metrics as measurement_metrics
from apps.strategy.views import goals as strategy_goals

# Pages of one organisation: /o/<org_slug>/... Every view here is wrapped by
# apps.accounts.access.org_view, which resolves the organisation from the URL.
org_patterns = [
    path("", core_views.org_home, name="org_home"),
    path("strategy/", strategy_goals.goals_index, name="strategy_index"),
    path("strategy/", include("apps.strategy.urls")),
    path("execution/", execution_overview.execution_index, name="execution_index"),
    path("measurement/", measurement_metrics.metrics_index, name="measurement_index"),
    path("measurement/", include("apps.measurement.urls")),
    path("governance/", governance_reviews.governance_index, name="governance_index"),
    path("governance/", include("apps.governance.urls")),
    path("records/", include("apps.records.urls")),
    path("imports/", include("apps.imports.urls")),
    path("quality/", include("apps.quality.urls")),
    path("settings/", include("apps.accounts.urls")),
    path("settings/webhooks/", include("apps.integrations.urls")),
    path("settings/", include("apps.audit.urls")),
    path("", include("apps.execution.urls")),
]

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("", core_views.home, name="home"),
    path("", include("apps.accounts.urls_global")),
    path("", include(execution_journeys.public_urlpatterns)),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("revops.api_urls")),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[AllowAny]),
        name="api-schema",
    ),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(
            url_name="api-schema", authentication_classes=[], permission_classes=[AllowAny]
        ),
        name="api-docs",
    ),
    path("o/<slug:org_slug>/", include(org_patterns)),
]

handler400 = "apps.core.handlers.bad_request"
handler404 = "apps.core.handlers.not_found"
handler500 = "apps.core.handlers.server_error"
