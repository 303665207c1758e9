"""Quarterly strategy reviews are operating reviews now (apps.governance, kind "quarterly"); the old
address of their list leads there."""

from django.shortcuts import redirect
from django.urls import path, reverse

from apps.accounts.access import org_view


@org_view()
def reviews_page(request):
    return redirect(reverse("governance_reviews", args=[request.org.slug]) + "?kind=quarterly")


urlpatterns = [
    path("reviews/", reviews_page, name="strategy_reviews"),
]
