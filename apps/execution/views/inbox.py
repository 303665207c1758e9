"""inbox pages."""

urlpatterns = []
