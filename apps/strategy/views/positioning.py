"""Positioning and offers: per segment what we say and what we offer, their forms and their version history.

RevOps leads and admins edit ("strategy.edit"); everyone in the organisation
reads. Segments are listed as they are; they are defined on their own pages.
"""

from django import forms
from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path, reverse

from apps.accounts.access import org_view
from apps.accounts.models import Membership
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.strategy.models import Offer, OfferType, Positioning, Segment
from apps.strategy.services import positioning as services

EDIT = "strategy.edit"
LIST_HELP = "One per line, in the order you would say them."


def owner_choice_field(org, **kwargs) -> forms.ModelChoiceField:
    owners = Membership.objects.for_org(org).filter(is_active=True).select_related("user")
    field = forms.ModelChoiceField(
        label="Owner",
        queryset=owners.order_by("user__full_name", "user__email"),
        required=False,
        empty_label="Nobody yet",
        **kwargs,
    )
    field.label_from_instance = lambda m: m.user.display_name
    return field


class PositioningForm(forms.Form):
    value_propositions = forms.CharField(
        label="Value propositions",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=LIST_HELP,
    )
    messaging_pillars = forms.CharField(
        label="Messaging pillars",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text=LIST_HELP,
    )
    proof_points = forms.CharField(
        label="Proof points",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        help_text="Customer results, numbers, references; one per line.",
    )

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"] = owner_choice_field(org)


class OfferForm(forms.Form):
    name = forms.CharField(label="Name", max_length=120)
    type = forms.ChoiceField(label="Type", choices=OfferType.choices)
    description = forms.CharField(
        label="Description", widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=2000
    )

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"] = forms.ModelChoiceField(
            label="Segment",
            queryset=Segment.objects.for_org(org).order_by("-is_icp", "name"),
            required=False,
            empty_label="Every segment",
        )
        self.fields["owner"] = owner_choice_field(org)


class OfferFilterForm(forms.Form):
    type = forms.ChoiceField(label="Type", choices=[("", "Any type"), *OfferType.choices], required=False)
    active = forms.ChoiceField(
        label="Status",
        choices=[("", "Active and inactive"), ("yes", "Active"), ("no", "Inactive")],
        required=False,
    )

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"] = forms.ModelChoiceField(
            label="Segment",
            queryset=Segment.objects.for_org(org).order_by("-is_icp", "name"),
            required=False,
            empty_label="Any segment",
        )


def _lines(items) -> str:
    return "\n".join(items or [])


# --- Positioning ---------------------------------------------------------------------------------


@org_view()
def positioning_index(request):
    org = request.org
    rows = services.segments_with_positioning(org=org)
    general = services.offers_filtered(org=org).filter(segment__isnull=True)
    return render(
        request,
        "strategy/positioning.html",
        {
            "rows": rows,
            "general_offers": general,
            "can_edit": request.membership.can(EDIT),
        },
    )


@org_view(EDIT)
def positioning_edit(request, pk):
    org = request.org
    segment = get_for_org(Segment.objects.all(), org=org, pk=pk)
    current = Positioning.objects.for_org(org).filter(segment=segment).first()
    initial = {}
    if current is not None:
        initial = {name: _lines(getattr(current, name)) for name in services.LISTS}
        initial["owner"] = current.owner
    else:
        initial["owner"] = request.membership
    form = PositioningForm(request.POST or None, org=org, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            try:
                saved = services.positioning_save(org=org, segment=segment, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Positioning for {segment.name} saved (version {saved.version}).")
                return redirect(f"{reverse('strategy_positioning', args=[org.slug])}#segment-{segment.pk}")
        return _positioning_form(request, form, segment, current, status=400)
    return _positioning_form(request, form, segment, current)


def _positioning_form(request, form, segment, current, status=200):
    context = {"form": form, "segment": segment, "positioning": current}
    return render(request, "strategy/positioning_form.html", context, status=status)


@org_view()
def positioning_history(request, pk):
    org = request.org
    segment = get_for_org(Segment.objects.all(), org=org, pk=pk)
    current = Positioning.objects.for_org(org).filter(segment=segment).select_related("owner__user").first()
    history = services.positioning_history(org=org, positioning=current) if current else []
    return render(
        request,
        "strategy/positioning_history.html",
        {
            "segment": segment,
            "positioning": current,
            "history": history,
            "can_edit": request.membership.can(EDIT),
        },
    )


# --- Offers --------------------------------------------------------------------------------------


@org_view()
def offers_index(request):
    org = request.org
    form = OfferFilterForm(request.GET or None, org=org)
    filters = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "type": data["type"],
            "segment": data["segment"],
            "active": {"yes": True, "no": False}.get(data["active"]),
        }
    offers = services.offers_filtered(org=org, **filters)
    return render(
        request,
        "strategy/offers.html",
        {
            "form": form,
            "offers": offers,
            "filtered": any(value not in (None, "") for value in filters.values()),
            "can_edit": request.membership.can(EDIT),
        },
    )


@org_view()
def offer_detail(request, pk):
    org = request.org
    offer = get_for_org(Offer.objects.select_related("segment", "owner__user"), org=org, pk=pk)
    return render(
        request,
        "strategy/offer.html",
        {
            "offer": offer,
            "history": services.offer_history(org=org, offer=offer),
            "programs": offer.programs.all(),
            "can_edit": request.membership.can(EDIT),
        },
    )


def _offer_form(request, form, offer=None, status=200):
    return render(request, "strategy/offer_form.html", {"form": form, "offer": offer}, status=status)


@org_view(EDIT)
def offer_new(request):
    org = request.org
    initial = {"owner": request.membership, "segment": request.GET.get("segment") or None}
    form = OfferForm(request.POST or None, org=org, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            try:
                offer = services.offer_create(org=org, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Offer “{offer.name}” saved.")
                return redirect("strategy_offer", org_slug=org.slug, pk=offer.pk)
        return _offer_form(request, form, status=400)
    return _offer_form(request, form)


@org_view(EDIT)
def offer_edit(request, pk):
    org = request.org
    offer = get_for_org(Offer.objects.all(), org=org, pk=pk)
    initial = {name: getattr(offer, name) for name in ("name", "type", "description", "segment", "owner")}
    form = OfferForm(request.POST or None, org=org, initial=initial)
    if request.method == "POST":
        if form.is_valid():
            try:
                services.offer_update(org=org, offer=offer, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Offer “{offer.name}” saved (version {offer.version}).")
                return redirect("strategy_offer", org_slug=org.slug, pk=offer.pk)
        offer.refresh_from_db()
        return _offer_form(request, form, offer, status=400)
    return _offer_form(request, form, offer)


@org_view(EDIT)
def offer_active(request, pk):
    """Switch an offer off (or back on); programs that name it keep the link."""
    org = request.org
    offer = get_for_org(Offer.objects.all(), org=org, pk=pk)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if offer.active:
        services.offer_deactivate(org=org, offer=offer)
        messages.success(request, f"Offer “{offer.name}” deactivated; programs that use it keep the link.")
    else:
        services.offer_activate(org=org, offer=offer)
        messages.success(request, f"Offer “{offer.name}” is active again.")
    return redirect("strategy_offer", org_slug=org.slug, pk=offer.pk)


urlpatterns = [
    path("positioning/", positioning_index, name="strategy_positioning"),
    path("positioning/<int:pk>/edit/", positioning_edit, name="strategy_positioning_edit"),
    path("positioning/<int:pk>/history/", positioning_history, name="strategy_positioning_history"),
    path("offers/", offers_index, name="strategy_offers"),
    path("offers/new/", offer_new, name="strategy_offer_new"),
    path("offers/<int:pk>/", offer_detail, name="strategy_offer"),
    path("offers/<int:pk>/edit/", offer_edit, name="strategy_offer_edit"),
    path("offers/<int:pk>/active/", offer_active, name="strategy_offer_active"),
]
