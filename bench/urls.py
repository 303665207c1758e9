"""The product's URLs plus the baselines benchmarks measure against (never in the product's URLconf)."""

from django.db import connection
from django.http import JsonResponse
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.records.models import Lead
from revops.urls import handler400, handler404, handler500
from revops.urls import urlpatterns as revops_urlpatterns

__all__ = ["handler400", "handler404", "handler500", "urlpatterns"]


def select1(request):
    """One database round trip and a tiny JSON body: the floor of any API call."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        (value,) = cursor.fetchone()
    return JsonResponse({"value": value})


class DrfSelect1(APIView):
    """`select1` through DRF with nothing of ours: no key, no scope check, no quota.

    POST parses its JSON body (as any API write does) and ignores it, so a lead
    POST can be compared with it body for body.
    """

    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()

    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            (value,) = cursor.fetchone()
        return Response({"value": value})

    def post(self, request):
        request.data  # noqa: B018 - parsing the body is part of the floor of a write
        return self.get(request)


# Every field GET /api/v1/leads/ returns, in its order; the stage by key.
LEAD_FIELDS = (
    "id", "external_id", "email", "first_name", "last_name", "title", "phone", "company", "country",
    "source", "channel", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "stage__key",
    "stage_entered_at", "owner_id", "account_id", "score", "completeness", "custom", "captured_at",
    "created_at", "updated_at",
)  # fmt: skip


def leads_values(request):
    """The first page of the lead list written by hand: the rows GET /api/v1/leads/ returns
    (same organisation filter, merged leads hidden, same `-created_at, -id` order and page
    size, one row more to know there is a next page), via `.values()` and JsonResponse.
    No authentication: `?org=<id>` names the organisation.
    """
    size = min(int(request.GET.get("page_size", 50)), 500)
    rows = list(
        Lead.objects.filter(organization_id=int(request.GET["org"]), merged_into__isnull=True)
        .order_by("-created_at", "-id")
        .values(*LEAD_FIELDS)[: size + 1]
    )
    page = rows[:size]
    for row in page:
        row["stage"] = row.pop("stage__key")
    return JsonResponse({"next": str(rows[-1]["created_at"]) if len(rows) > size else None, "results": page})


urlpatterns = [
    path("bench/select1/", select1),
    path("bench/drf-select1/", DrfSelect1.as_view()),
    path("bench/leads-values/", leads_values),
    *revops_urlpatterns,
]
