"""Execution pages, mounted at /o/<org_slug>/. Each view module owns its patterns."""

from .views import inbox, reports, setup

urlpatterns = [*inbox.urlpatterns, *setup.urlpatterns, *reports.urlpatterns]
