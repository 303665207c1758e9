"""Execution pages, mounted at /o/<org_slug>/. Each view module owns its patterns."""

from .views import campaigns, experiments, handoffs, inbox, journeys, offers, playbooks, reports, setup, utm

urlpatterns = [
    *inbox.urlpatterns,
    *setup.urlpatterns,
    *reports.urlpatterns,
    *offers.urlpatterns,
    *campaigns.urlpatterns,
    *utm.urlpatterns,
    *handoffs.urlpatterns,
    *experiments.urlpatterns,
    *playbooks.urlpatterns,
    *journeys.urlpatterns,
]
