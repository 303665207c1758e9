"""What every set-up page shares: the permissions it checks and small response helpers."""

from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect

from apps.accounts.models import Membership

EDIT_ROUTING = "routing.edit"
EDIT_SLA = "sla.edit"
# Either lets someone change any rep's routing profile; reps may change their own hours and absences.
MANAGE_REPS = ("leads.reassign", EDIT_ROUTING)


def back(request, name: str, **kwargs):
    return redirect(name, org_slug=request.org.slug, **kwargs)


def post_only(request):
    # Called after the object lookup, so another organisation's id stays a 404.
    return None if request.method == "POST" else HttpResponseNotAllowed(["POST"])


def member_names(org, ids) -> dict[int, str]:
    ids = {pk for pk in ids if pk}
    if not ids:
        return {}
    return {
        m.pk: m.user.display_name
        for m in Membership.objects.for_org(org).filter(pk__in=ids).select_related("user")
    }
