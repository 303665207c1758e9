"""Who takes leads, and when: queues and their members (with the fairness
ledger), reps' availability, hours, caps and absences, and business calendars."""

from datetime import timedelta

from django.contrib import messages
from django.db.models import Count, Prefetch, Q
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from apps.accounts.access import org_view, require_permission
from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.execution import calendars, forms
from apps.execution.models import BusinessCalendar, OutOfOffice, PoolMember, RoutingPool, SlaPolicy
from apps.execution.routing import types
from apps.execution.selectors.inbox import may_steer
from apps.execution.services import setup as services

from .common import EDIT_ROUTING, back, post_only

# Roles listed on the reps page even before they join a queue.
SALES_ROLES = (Role.SALES_REP, Role.SALES_MANAGER)


# --- Queues -------------------------------------------------------------------------------------------


@org_view()
def pools(request):
    org = request.org
    can_edit = request.membership.can(EDIT_ROUTING)
    form = forms.PoolForm(request.POST or None, org=org) if can_edit else None
    if request.method == "POST":
        require_permission(request, EDIT_ROUTING)
        if form.is_valid():
            try:
                pool = services.pool_create(org=org, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Queue {pool.name} created. Add its members below.")
                return back(request, "execution_pool", pk=pool.pk)
    queues = (
        RoutingPool.objects.for_org(org)
        .select_related("team")
        .annotate(active_members=Count("members", filter=Q(members__is_active=True)))
        .order_by("name")
    )
    return render(
        request,
        "execution/setup/pools.html",
        {"pools": queues, "form": form, "strategies": types.STRATEGIES},
        status=400 if request.method == "POST" else 200,
    )


def _pool_member_post(request, pool):
    """One member row's form: weight, territories, in the rotation or not. Returns errors or None."""
    form = forms.PoolMemberForm(request.POST)
    if not form.is_valid():
        return form.errors, request.POST.get("member")
    member = PoolMember.objects.for_org(request.org).filter(pool=pool, pk=form.cleaned_data["member"]).first()
    if member is None:
        raise Http404("No such member in this queue.")
    data = form.cleaned_data
    try:
        services.pool_member_update(
            org=request.org, member=member, weight=data["weight"], territories=data["territories"],
            is_active=data["is_active"],
        )  # fmt: skip
    except ServiceError as exc:
        return {exc.field or "__all__": [exc.message]}, member.pk
    return None, member.pk


@org_view()
def pool(request, pk):
    org = request.org
    queue = get_for_org(RoutingPool.objects.select_related("team"), org=org, pk=pk)
    can_edit = request.membership.can(EDIT_ROUTING)
    form = forms.PoolForm(
        org=org,
        read_only=not can_edit,
        initial={
            "name": queue.name,
            "strategy": queue.strategy,
            "team": queue.team_id,
            "description": queue.description,
        },
    )
    add_form = forms.PoolMemberAddForm(org=org) if can_edit else None
    row_errors, status = {}, 200
    if request.method == "POST":
        require_permission(request, EDIT_ROUTING)
        which = request.POST.get("form")
        if which == "pool":
            form = forms.PoolForm(request.POST, org=org)
            if form.is_valid():
                try:
                    services.pool_update(org=org, pool=queue, **form.cleaned_data)
                except ServiceError as exc:
                    queue.refresh_from_db()
                    add_service_error(form, exc)
                else:
                    messages.success(request, f"Queue {queue.name} saved.")
                    return back(request, "execution_pool", pk=queue.pk)
        elif which == "add":
            add_form = forms.PoolMemberAddForm(request.POST, org=org)
            if add_form.is_valid():
                try:
                    member = services.pool_member_add(org=org, pool=queue, **add_form.cleaned_data)
                except ServiceError as exc:
                    add_service_error(add_form, exc)
                else:
                    messages.success(request, f"{member.membership.user.display_name} is in {queue.name}.")
                    return back(request, "execution_pool", pk=queue.pk)
        elif which == "member":
            errors, member_pk = _pool_member_post(request, queue)
            if errors is None:
                messages.success(request, "Member saved.")
                return back(request, "execution_pool", pk=queue.pk)
            row_errors[int(member_pk) if str(member_pk).isdigit() else None] = [
                message for messages_ in errors.values() for message in messages_
            ]
        status = 400
    members = (
        PoolMember.objects.for_org(org)
        .filter(pool=queue)
        .select_related("membership__user")
        .order_by("-is_active", "membership__user__full_name", "membership__user__email")
    )
    return render(
        request,
        "execution/setup/pool.html",
        {
            "pool": queue,
            "form": form,
            "add_form": add_form,
            "members": [(m, row_errors.get(m.pk)) for m in members],
            "stray_errors": row_errors.get(None),
            "can_edit": can_edit,
            "used_by": services.pool_references(org=org, pool=queue),
        },
        status=status,
    )


@org_view(EDIT_ROUTING)
def pool_delete(request, pk):
    queue = get_for_org(RoutingPool.objects.all(), org=request.org, pk=pk)
    if refused := post_only(request):
        return refused
    try:
        services.pool_delete(org=request.org, pool=queue)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return back(request, "execution_pool", pk=queue.pk)
    messages.success(request, f"Queue {queue.name} deleted.")
    return back(request, "execution_pools")


# --- Reps ------------------------------------------------------------------------------------------


def _schedule_summary(profile, org) -> str:
    if profile is None or profile.pk is None:
        return "No working hours set: routable at any time"
    zone = profile.time_zone or org.time_zone
    try:
        return calendars.describe(calendars.schedule_from(time_zone=zone, hours_json=profile.hours))
    except calendars.CalendarError as error:
        return f"Invalid hours: {error}"


@org_view()
def reps(request):
    org = request.org
    now = timezone.now()
    people = (
        Membership.objects.for_org(org)
        .filter(is_active=True)
        .filter(Q(role__in=SALES_ROLES) | Q(pool_memberships__is_active=True))
        .distinct()
        .select_related("user", "rep_profile")
        .prefetch_related(
            Prefetch(
                "absences",
                queryset=OutOfOffice.objects.filter(ends_at__gt=now).order_by("starts_at"),
                to_attr="coming_absences",
            )
        )
        .order_by("user__full_name", "user__email")
    )
    rows = []
    for member in people:
        profile = getattr(member, "rep_profile", None)
        away = member.coming_absences[0] if member.coming_absences else None
        rows.append(
            {
                "member": member,
                "profile": profile,
                "available": profile.available if profile else True,
                "time_zone": (profile and profile.time_zone) or member.user.time_zone or org.time_zone,
                "hours": _schedule_summary(profile, org),
                "away": away,
                "away_now": bool(away and away.starts_at <= now),
            }
        )
    return render(request, "execution/setup/reps.html", {"rows": rows})


def _steers(request, member) -> bool:
    """RevOps leads and admins manage every rep; a sales manager only the reps of their teams."""
    if request.membership.can(EDIT_ROUTING):
        return True
    return request.membership.can("leads.reassign") and may_steer(
        org=request.org, membership=request.membership, target=member
    )


def _rep_access(request, member) -> set | None:
    """The profile fields this person may change on `member`'s page (None: all); raises 403 when none."""
    if _steers(request, member):
        return None
    if member.pk == request.membership.pk:
        return forms.RepProfileForm.SELF_SERVICE
    require_permission(request, EDIT_ROUTING)  # records the refusal and raises 403
    return set()


def _rep_zone(org, member, profile) -> str:
    return (profile and profile.time_zone) or member.user.time_zone or org.time_zone


@org_view()
def rep(request, pk):
    org = request.org
    member = get_for_org(Membership.objects.select_related("user"), org=org, pk=pk)
    profile = services.rep_profile_for(org=org, membership=member)
    is_manager = _steers(request, member)
    can_change = is_manager or member.pk == request.membership.pk
    initial = {
        "available": profile.available,
        "time_zone": profile.time_zone,
        "daily_cap": profile.daily_cap,
        "open_cap": profile.open_cap,
    }
    # Without a saved profile no working hours apply; saving must not quietly impose 9 to 5.
    hours = profile.hours if profile.pk else forms.ROUND_THE_CLOCK
    editable = None if is_manager else (forms.RepProfileForm.SELF_SERVICE if can_change else set())
    profile_form = forms.RepProfileForm(
        initial=initial,
        hours=hours,
        default_zone=member.user.time_zone or org.time_zone,
        editable=editable,
    )
    absence_form = forms.AbsenceForm(time_zone=_rep_zone(org, member, profile))
    status = 200
    if request.method == "POST":
        editable = _rep_access(request, member)
        which = request.POST.get("form")
        if which == "profile":
            profile_form = forms.RepProfileForm(
                request.POST,
                initial=initial,
                hours=hours,
                default_zone=member.user.time_zone or org.time_zone,
                editable=editable,
            )
            if profile_form.is_valid():
                try:
                    services.rep_profile_update(org=org, membership=member, **profile_form.profile_fields())
                except ServiceError as exc:
                    add_service_error(profile_form, exc, aliases=forms.RepProfileForm.ALIASES)
                else:
                    messages.success(request, f"Routing settings of {member.user.display_name} saved.")
                    return back(request, "execution_rep", pk=member.pk)
        elif which == "absence":
            absence_form = forms.AbsenceForm(request.POST, time_zone=_rep_zone(org, member, profile))
            if absence_form.is_valid():
                try:
                    services.absence_create(org=org, membership=member, **absence_form.cleaned_data)
                except ServiceError as exc:
                    add_service_error(absence_form, exc)
                else:
                    messages.success(request, "Absence added: routing skips them while it lasts.")
                    return back(request, "execution_rep", pk=member.pk)
        status = 400
    absences = OutOfOffice.objects.for_org(org).filter(
        membership=member, ends_at__gt=timezone.now() - timedelta(days=30)
    )
    return render(
        request,
        "execution/setup/rep.html",
        {
            "member": member,
            "profile": profile,
            "summary": _schedule_summary(profile, org),
            "zone": _rep_zone(org, member, profile),
            "profile_form": profile_form,
            "absence_form": absence_form if can_change else None,
            "absences": absences.order_by("-starts_at"),
            "can_change": can_change,
            "is_self": member.pk == request.membership.pk,
            "is_manager": is_manager,
        },
        status=status,
    )


@org_view()
def rep_absence_delete(request, pk):
    absence = get_for_org(OutOfOffice.objects.select_related("membership"), org=request.org, pk=pk)
    if refused := post_only(request):
        return refused
    _rep_access(request, absence.membership)
    services.absence_delete(org=request.org, absence=absence)
    messages.success(request, "Absence removed.")
    return back(request, "execution_rep", pk=absence.membership_id)


# --- Calendars -------------------------------------------------------------------------------------


@org_view()
def calendars_page(request):
    org = request.org
    can_edit = request.membership.can(EDIT_ROUTING)
    form = forms.CalendarForm(request.POST or None, org=org) if can_edit else None
    if request.method == "POST":
        require_permission(request, EDIT_ROUTING)
        if form.is_valid():
            try:
                calendar = services.calendar_create(org=org, **form.calendar_fields())
            except ServiceError as exc:
                add_service_error(form, exc, aliases=forms.CalendarForm.ALIASES)
            else:
                messages.success(request, f"Calendar {calendar.name} created.")
                return back(request, "execution_calendars")
    rows = [
        (calendar, _calendar_summary(calendar))
        for calendar in BusinessCalendar.objects.for_org(org).select_related("team").order_by("name")
    ]
    return render(
        request,
        "execution/setup/calendars.html",
        {"rows": rows, "form": form},
        status=400 if request.method == "POST" else 200,
    )


def _calendar_summary(calendar) -> str:
    try:
        return calendars.describe(
            calendars.schedule_from(
                time_zone=calendar.time_zone, hours_json=calendar.hours, holidays=calendar.holiday_dates
            )
        )
    except calendars.CalendarError as error:
        return f"Invalid: {error}"


@org_view()
def calendar_page(request, pk):
    org = request.org
    calendar = get_for_org(BusinessCalendar.objects.select_related("team"), org=org, pk=pk)
    can_edit = request.membership.can(EDIT_ROUTING)
    if request.method == "POST":
        require_permission(request, EDIT_ROUTING)
        form = forms.CalendarForm(request.POST, org=org, hours=calendar.hours)
        if form.is_valid():
            try:
                services.calendar_update(org=org, calendar=calendar, **form.calendar_fields())
            except ServiceError as exc:
                calendar.refresh_from_db()
                add_service_error(form, exc, aliases=forms.CalendarForm.ALIASES)
            else:
                messages.success(request, f"Calendar {calendar.name} saved.")
                return back(request, "execution_calendar", pk=calendar.pk)
    else:
        form = forms.CalendarForm(
            org=org,
            hours=calendar.hours,
            read_only=not can_edit,
            initial={
                "name": calendar.name,
                "time_zone": calendar.time_zone,
                "team": calendar.team_id,
                "holidays": forms.CalendarForm.holidays_text(calendar.holidays),
            },
        )
    return render(
        request,
        "execution/setup/calendar.html",
        {
            "calendar": calendar,
            "summary": _calendar_summary(calendar),
            "form": form,
            "can_edit": can_edit,
            "policies": SlaPolicy.objects.for_org(org).filter(calendar=calendar).order_by("name"),
        },
        status=400 if request.method == "POST" else 200,
    )
