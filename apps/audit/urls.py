"""Audit trail and security log, mounted at /o/<org_slug>/settings/ (views take org_slug through org_view)."""

from django.urls import path

from . import views

urlpatterns = [
    path("audit/", views.settings_audit, name="settings_audit"),
    path("security/", views.settings_security, name="settings_security"),
    path("security/export.csv", views.settings_security_export, name="settings_security_export"),
]
