import time

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from apps.accounts.access import org_view

from .tasks import HEARTBEAT_KEY


@never_cache
def healthz(request):
    """Liveness: the process answers. Touches no dependency on purpose."""
    return JsonResponse({"status": "ok"})


def _check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return True


def _check_redis():
    cache.set("readyz-probe", "1", timeout=10)
    return cache.get("readyz-probe") == "1"


def _check_worker():
    beat = cache.get(HEARTBEAT_KEY)
    if beat is None:
        return False
    return time.time() - float(beat) < settings.WORKER_HEARTBEAT_MAX_AGE


@never_cache
def readyz(request):
    """Readiness: database, Redis and a recent worker heartbeat. Details only for staff."""
    checks = {}
    for name, check in (("database", _check_database), ("redis", _check_redis), ("worker", _check_worker)):
        try:
            checks[name] = bool(check())
        except Exception:
            checks[name] = False
    ready = all(checks.values())
    body = {"status": "ok" if ready else "unavailable"}
    if request.user.is_authenticated and request.user.is_staff:
        body["checks"] = checks
    return JsonResponse(body, status=200 if ready else 503)


@login_required
def home(request):
    """Send people to their first organisation, or offer to create one."""
    membership = request.user.memberships.filter(is_active=True).select_related("organization").first()
    if membership is None:
        return redirect("org_create")
    return redirect("org_home", org_slug=membership.organization.slug)


SECTIONS = {
    "strategy": {
        "title": "Strategy",
        "intro": "Goals by quarter, the reverse waterfall, the KPI tree, ICP and segments, offers, "
        "channel mix and budget.",
        "next_step": "Strategy objects arrive with the strategy module. Start by agreeing your lifecycle "
        "stages and loading your leads so plans can be checked against real numbers.",
    },
    "execution": {
        "title": "Execution",
        "intro": "Campaign intake to launch, journeys, lead and account routing, SLAs and hand-offs.",
        "next_step": "Routing, SLAs and campaigns arrive with the execution module. Invite your sales reps "
        "and create their teams now so routing has people to route to.",
    },
    "measurement": {
        "title": "Measurement",
        "intro": "Nightly funnel rollups, conversion and velocity, attribution, CAC, LTV, ROMI and "
        "speed-to-lead.",
        "next_step": "Measurement fills in as data arrives. Create an API key so your CRM and forms can "
        "push leads, accounts and touchpoints.",
    },
    "governance": {
        "title": "Governance",
        "intro": "Weekly operating reviews, decisions and action items, change requests for the operating "
        "model, and the audit trail.",
        "next_step": "The audit trail already records every change; browse it under Settings → Audit log.",
    },
}


@org_view()
def org_home(request):
    return render(request, "core/org_home.html", {"sections": SECTIONS})


def section(name):
    @org_view()
    def view(request):
        return render(request, "core/section.html", {"section": SECTIONS[name], "section_key": name})

    view.__name__ = f"{name}_index"
    return view


def placeholder(title):
    """A page whose feature is being built: an honest empty state, not a broken link."""

    @org_view()
    def view(request):
        section = {"title": title, "intro": "", "next_step": "This page is not available yet."}
        return render(request, "core/section.html", {"section": section})

    return view
