# Placeholder routes, replaced by the import wizard.
from django.urls import path

from apps.core.views import placeholder

urlpatterns = [path("", placeholder("Import"), name="imports_index")]
