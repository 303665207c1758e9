"""Saving the state of a list as a named view, and deleting one's own views."""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponseNotAllowed, QueryDict
from django.shortcuts import redirect
from django.urls import reverse

from apps.accounts.access import org_view
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org

from .. import definitions, selectors
from ..forms import SavedViewForm
from ..models import SavedView
from ..selectors import LIST_SPECS
from .lists import _list_context

# --- Saved views ---------------------------------------------------------------------------


@org_view()
def records_view_save(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    object_type = request.POST.get("object_type", "")
    if object_type not in LIST_SPECS:
        raise Http404("No such list.")
    spec = LIST_SPECS[object_type]
    query = request.POST.get("query", "")
    form = SavedViewForm(
        request.POST, teams=selectors.teams_of(org=request.org, membership=request.membership)
    )
    back = reverse(spec.url_name, args=[request.org.slug])
    if form.is_valid():
        state = _list_context(request, object_type, QueryDict(query)).state
        try:
            view = definitions.saved_view_create(
                org=request.org,
                owner=request.membership,
                object_type=object_type,
                name=form.cleaned_data["name"],
                visibility=form.cleaned_data["visibility"],
                team=form.cleaned_data["team"],
                filters=state.filters,
                columns=state.columns,
                sort=state.sort,
            )
        except ServiceError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"View “{view.name}” saved.")
            return redirect(f"{back}?{urlencode({'view': view.pk})}")
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, f"The view was not saved: {error}")
    return redirect(back + (f"?{query}" if query else ""))


@org_view()
def records_view_delete(request, pk):
    # Only one's own views: anybody else's, shared or not, is a 404 here.
    view = get_for_org(SavedView.objects.filter(owner=request.membership), org=request.org, pk=pk)
    if request.method != "POST":  # after the lookup: another org's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    definitions.saved_view_delete(org=request.org, view=view, membership=request.membership)
    messages.success(request, f"View “{view.name}” deleted.")
    return redirect(LIST_SPECS[view.object_type].url_name, org_slug=request.org.slug)
