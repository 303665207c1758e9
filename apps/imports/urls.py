"""The CSV import wizard, mounted at /o/<org_slug>/imports/ (views take org_slug through org_view)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.imports_index, name="imports_index"),
    path("<int:pk>/", views.imports_job, name="imports_job"),
    path("<int:pk>/mapping/", views.imports_mapping, name="imports_mapping"),
    path("<int:pk>/preview/", views.imports_preview, name="imports_preview"),
    path("<int:pk>/progress/", views.imports_progress, name="imports_progress"),
    path("<int:pk>/errors.csv", views.imports_errors, name="imports_errors"),
    path("<int:pk>/cancel/", views.imports_cancel, name="imports_cancel"),
]
