"""setup pages."""

urlpatterns = []
