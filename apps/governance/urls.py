"""Pages of governance under /o/<slug>/governance/: operating reviews and change requests."""

from .views import changes, reviews

urlpatterns = [
    *reviews.urlpatterns,
    *changes.urlpatterns,
]
