"""Account pages outside any organisation, mounted at /."""

from django.urls import path

from . import views

urlpatterns = [
    path("orgs/new/", views.org_create, name="org_create"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation_accept"),
]
