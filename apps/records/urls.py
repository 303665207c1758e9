"""Records pages, mounted at /o/<org_slug>/records/ (views take org_slug through org_view)."""

from django.urls import path

from . import views

urlpatterns = [
    path("leads/", views.records_leads, name="records_leads"),
    path("leads/export.csv", views.records_leads_export, name="records_leads_export"),
    path("leads/bulk/", views.records_leads_bulk, name="records_leads_bulk"),
    path("leads/<int:pk>/", views.records_lead, name="records_lead"),
    path("accounts/", views.records_accounts, name="records_accounts"),
    path("accounts/export.csv", views.records_accounts_export, name="records_accounts_export"),
    path("accounts/bulk/", views.records_accounts_bulk, name="records_accounts_bulk"),
    path("accounts/<int:pk>/", views.records_account, name="records_account"),
    path("opportunities/", views.records_opportunities, name="records_opportunities"),
    path("opportunities/export.csv", views.records_opportunities_export, name="records_opportunities_export"),
    path("opportunities/bulk/", views.records_opportunities_bulk, name="records_opportunities_bulk"),
    path("opportunities/<int:pk>/", views.records_opportunity, name="records_opportunity"),
    path("views/", views.records_view_save, name="records_view_save"),
    path("views/<int:pk>/delete/", views.records_view_delete, name="records_view_delete"),
    path("definitions/", views.records_definitions, name="records_definitions"),
    path("definitions/stages/<int:pk>/edit/", views.records_stage_edit, name="records_stage_edit"),
    path(
        "definitions/versions/<int:pk>/", views.records_definition_version, name="records_definition_version"
    ),
    path("definitions/custom-fields/", views.records_custom_fields, name="records_custom_fields"),
    path(
        "definitions/custom-fields/<int:pk>/delete/",
        views.records_custom_field_delete,
        name="records_custom_field_delete",
    ),
]
