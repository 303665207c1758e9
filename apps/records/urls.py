# Placeholder routes, replaced by the records pages.
from django.urls import path

from apps.core.views import placeholder

urlpatterns = [
    path("leads/", placeholder("Leads"), name="records_leads"),
    path("accounts/", placeholder("Accounts"), name="records_accounts"),
    path("opportunities/", placeholder("Opportunities"), name="records_opportunities"),
    path("definitions/", placeholder("Definitions"), name="records_definitions"),
]
