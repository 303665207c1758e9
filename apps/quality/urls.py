# Placeholder routes, replaced by the data-quality pages.
from django.urls import path

from apps.core.views import placeholder

urlpatterns = [path("", placeholder("Data quality"), name="quality_index")]
