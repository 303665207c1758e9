from django.urls import path

from . import views

urlpatterns = [
    path("", views.quality_index, name="quality_index"),
    path("duplicates/", views.quality_duplicates, name="quality_duplicates"),
    path("duplicates/<int:pk>/", views.quality_duplicate, name="quality_duplicate"),
    path("duplicates/<int:pk>/merge/", views.quality_duplicate_merge, name="quality_duplicate_merge"),
    path("duplicates/<int:pk>/dismiss/", views.quality_duplicate_dismiss, name="quality_duplicate_dismiss"),
    path("merges/", views.quality_merges, name="quality_merges"),
    path("merges/<int:pk>/undo/", views.quality_merge_undo, name="quality_merge_undo"),
    path("sources/", views.quality_sources, name="quality_sources"),
    path("sources/<int:pk>/delete/", views.quality_source_delete, name="quality_source_delete"),
    path("sources/reapply/", views.quality_sources_reapply, name="quality_sources_reapply"),
    path("completeness/", views.quality_completeness, name="quality_completeness"),
    path(
        "completeness/<int:pk>/delete/", views.quality_completeness_delete, name="quality_completeness_delete"
    ),
]
