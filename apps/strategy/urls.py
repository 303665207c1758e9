"""Strategy pages, mounted at /o/<org_slug>/strategy/. Each view module owns its patterns."""

from .views import channels, goals, kpi, plans, positioning, programs, reviews, segments, waterfall

urlpatterns = [
    *goals.urlpatterns,
    *waterfall.urlpatterns,
    *plans.urlpatterns,
    *reviews.urlpatterns,
    *channels.urlpatterns,
    *positioning.urlpatterns,
    *programs.urlpatterns,
    *kpi.urlpatterns,
    *segments.urlpatterns,
]
