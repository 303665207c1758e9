"""Webhook settings: endpoints, signing secrets, test events and the delivery log."""

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from apps.accounts.access import org_view
from apps.core.charts import bar_chart
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org

from . import services
from .events import EVENT_TYPES
from .forms import DeliveryFilterForm, WebhookEndpointEditForm, WebhookEndpointForm
from .models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from .selectors import attempt_outcomes_by_day

PAGE_SIZE = 50
PERMISSION = "webhooks.manage"


@org_view(PERMISSION)
def settings_webhooks(request):
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.webhook_endpoint_create(org=request.org, **form.cleaned_data)
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, "Endpoint created. Copy its signing secret into the receiving app.")
            return redirect("settings_webhook", org_slug=request.org.slug, pk=endpoint.pk)
    endpoints = WebhookEndpoint.objects.for_org(request.org).order_by("-created_at")
    return render(
        request,
        "integrations/webhooks.html",
        {"form": form, "endpoints": endpoints, "event_types": EVENT_TYPES},
    )


@org_view(PERMISSION)
@never_cache
def settings_webhook(request, pk):
    endpoint = get_for_org(WebhookEndpoint.objects.all(), org=request.org, pk=pk)
    if request.method == "POST":
        form = WebhookEndpointEditForm(request.POST)
        if form.is_valid():
            try:
                services.webhook_endpoint_update(org=request.org, endpoint=endpoint, **form.cleaned_data)
            except ServiceError as exc:
                endpoint.refresh_from_db()
                add_service_error(form, exc)
            else:
                messages.success(request, "Endpoint saved.")
                return redirect("settings_webhook", org_slug=request.org.slug, pk=endpoint.pk)
    else:
        form = WebhookEndpointEditForm(
            initial={
                "url": endpoint.url,
                "description": endpoint.description,
                "event_types": endpoint.event_types,
                "is_active": endpoint.is_active,
            }
        )

    now = timezone.now()
    secrets = list(
        endpoint.secrets.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).order_by("-created_at")
    )
    filters = DeliveryFilterForm(request.GET or None)
    deliveries = (
        WebhookDelivery.objects.for_org(request.org)
        .filter(endpoint=endpoint)
        .select_related("event")
        .defer("event__payload")
        .order_by("-created_at", "-id")
    )
    if filters.is_valid() and filters.cleaned_data["status"]:
        deliveries = deliveries.filter(status=filters.cleaned_data["status"])
    return render(
        request,
        "integrations/webhook.html",
        {
            "endpoint": endpoint,
            "form": form,
            "current_secrets": [s for s in secrets if s.expires_at is None],
            "rotating_secrets": [s for s in secrets if s.expires_at is not None],
            "filters": filters,
            "page": Paginator(deliveries, PAGE_SIZE).get_page(request.GET.get("page")),
            "outcomes_chart": _outcomes_chart(attempt_outcomes_by_day(org=request.org, endpoint=endpoint)),
        },
    )


def _outcomes_chart(outcomes) -> str | None:
    if not any(outcomes["succeeded"]) and not any(outcomes["failed"]):
        return None
    return bar_chart(
        title="Delivery attempts, last 14 days",
        x=[d.isoformat() for d in outcomes["days"]],
        series={"Succeeded": outcomes["succeeded"], "Failed": outcomes["failed"]},
        stacked=True,
    )


@org_view(PERMISSION)
def settings_webhook_rotate(request, pk):
    endpoint = get_for_org(WebhookEndpoint.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":  # after the lookup: another org's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    services.webhook_secret_rotate(org=request.org, endpoint=endpoint)
    messages.success(
        request,
        "A new signing secret is active. The previous one keeps signing for 24 hours: "
        "update the receiver before then.",
    )
    return redirect("settings_webhook", org_slug=request.org.slug, pk=endpoint.pk)


@org_view(PERMISSION)
def settings_webhook_test(request, pk):
    endpoint = get_for_org(WebhookEndpoint.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":  # after the lookup: another org's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    event = services.webhook_send_test(org=request.org, endpoint=endpoint)
    messages.success(request, f"Test event {event.pk} queued; it appears in the delivery log once sent.")
    return redirect("settings_webhook", org_slug=request.org.slug, pk=endpoint.pk)


@org_view(PERMISSION)
def settings_webhook_delete(request, pk):
    endpoint = get_for_org(WebhookEndpoint.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":  # after the lookup: another org's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    services.webhook_endpoint_delete(org=request.org, endpoint=endpoint)
    messages.success(request, f"Endpoint {endpoint.url} deleted with its delivery log.")
    return redirect("settings_webhooks", org_slug=request.org.slug)


@org_view(PERMISSION)
def settings_webhook_delivery(request, pk):
    delivery = get_for_org(
        WebhookDelivery.objects.select_related("endpoint", "event"), org=request.org, pk=pk
    )
    attempts = (
        DeliveryAttempt.objects.for_org(request.org).filter(delivery=delivery).order_by("-created_at", "-id")
    )
    return render(
        request,
        "integrations/delivery.html",
        {
            "delivery": delivery,
            "payload": json.dumps(delivery.event.payload, indent=2, sort_keys=True),
            "attempts": attempts,
        },
    )


@org_view(PERMISSION)
def settings_webhook_redeliver(request, pk):
    delivery = get_for_org(WebhookDelivery.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":  # after the lookup: another org's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    services.webhook_redeliver(org=request.org, delivery=delivery)
    messages.success(request, "Delivery queued again with the same webhook-id.")
    return redirect("settings_webhook_delivery", org_slug=request.org.slug, pk=delivery.pk)
