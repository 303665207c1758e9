"""metrics pages."""

urlpatterns = []
