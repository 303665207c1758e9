"""Measurement pages, mounted at /o/<org_slug>/measurement/. Each view module owns its patterns."""

from .views import attribution, dashboards, holdouts, metrics, spend
from .views import diagnostic as diagnostic_views
from .views import pipeline as pipeline_views

urlpatterns = [*metrics.urlpatterns, *spend.urlpatterns, *holdouts.urlpatterns, *attribution.urlpatterns]
urlpatterns += dashboards.urlpatterns
urlpatterns += pipeline_views.urlpatterns
urlpatterns += diagnostic_views.urlpatterns
