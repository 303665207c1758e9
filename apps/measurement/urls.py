"""Measurement pages, mounted at /o/<org_slug>/measurement/. Each view module owns its patterns."""

from .views import attribution, holdouts, metrics, spend

urlpatterns = [*metrics.urlpatterns, *spend.urlpatterns, *holdouts.urlpatterns, *attribution.urlpatterns]
