"""Strategy pages, mounted at /o/<org_slug>/strategy/. Each view module owns its patterns."""

from .views import goals, waterfall

urlpatterns = [*goals.urlpatterns, *waterfall.urlpatterns]
