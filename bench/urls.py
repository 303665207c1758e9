"""The product's URLs plus the bare view the API benchmark measures against."""

from django.db import connection
from django.http import JsonResponse
from django.urls import path

from revops.urls import handler400, handler404, handler500
from revops.urls import urlpatterns as revops_urlpatterns

__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]


def select1(request):
    """One database round trip and a tiny JSON body: the floor of any API call."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (value,) = cursor.fetchone()
    return JsonResponse({"value": value})


urlpatterns = [path("bench/select1/", select1), *revops_urlpatterns]
