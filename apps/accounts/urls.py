"""Organisation settings, mounted at /o/<org_slug>/settings/ (views take org_slug through org_view)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.settings_org, name="settings_org"),
    path("members/", views.settings_members, name="settings_members"),
    path("members/<int:pk>/role/", views.settings_member_role, name="settings_member_role"),
    path("members/<int:pk>/remove/", views.settings_member_remove, name="settings_member_remove"),
    path("invitations/", views.settings_invitations, name="settings_invitations"),
    path("invitations/<int:pk>/revoke/", views.settings_invitation_revoke, name="settings_invitation_revoke"),
    path("teams/", views.settings_teams, name="settings_teams"),
    path("teams/<int:pk>/", views.settings_team, name="settings_team"),
    path("teams/<int:pk>/delete/", views.settings_team_delete, name="settings_team_delete"),
    path("api-keys/", views.settings_api_keys, name="settings_api_keys"),
    path("api-keys/<int:pk>/revoke/", views.settings_api_key_revoke, name="settings_api_key_revoke"),
    path("mfa-required/", views.mfa_required, name="mfa_required"),
]
