"""Journey pages: the list, a template picker, a journey's steps, settings, analytics and enrolments,
the e-mail templates, and the public unsubscribe page.

Everyone in the organisation reads journeys; building, publishing, pausing and
enrolling needs "campaigns.edit". The unsubscribe page is public: its signed
token is the only authority it needs, and it only ever adds a suppression.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from apps.accounts.access import org_view
from apps.accounts.models import Membership
from apps.core.csv import csv_response
from apps.core.errors import ServiceError
from apps.core.lookups import get_for_org
from apps.execution.journeys import analytics, entry, mail, services
from apps.execution.journeys import steps as step_types
from apps.execution.journeys.goals import GOAL_TYPES
from apps.execution.journeys.templates import TEMPLATES, journey_from_template
from apps.execution.models import EmailTemplate, Enrollment, Journey, JourneyMotion, ReentryPolicy
from apps.integrations.models import WebhookEndpoint
from apps.records.conditions import OPERATORS
from apps.records.models import Lead, LifecycleStage

EDIT = "campaigns.edit"


def _back(request, pk=None):
    if pk is None:
        return redirect("execution_journeys", org_slug=request.org.slug)
    return redirect("execution_journey", org_slug=request.org.slug, pk=pk)


def _refuse(request, exc: ServiceError):
    where = f" ({exc.field})" if exc.field else ""
    messages.error(request, f"{exc.message}{where}")


# --- List and template picker ------------------------------------------------------


@org_view()
def journeys(request):
    rows = list(Journey.objects.for_org(request.org).select_related("current_version", "owner__user"))
    counts = analytics.journey_counts(org=request.org, journeys=rows)
    return render(
        request,
        "execution/journeys/list.html",
        {
            "rows": [(j, counts.get(j.pk, {"entered": 0, "active": 0})) for j in rows],
            "can_edit": request.membership.can(EDIT),
        },
    )


@org_view(EDIT)
def journey_new(request):
    if request.method == "POST":
        motion = request.POST.get("motion", "")
        name = request.POST.get("name", "").strip()
        try:
            if request.POST.get("blank"):
                made = services.journey_create(
                    org=request.org, name=name or "New journey", motion=motion, owner=request.membership
                )
            else:
                made = journey_from_template(
                    org=request.org, motion=motion, owner=request.membership, name=name
                )
        except ServiceError as exc:
            _refuse(request, exc)
            return redirect("execution_journey_new", org_slug=request.org.slug)
        messages.success(request, "Journey created as a draft: review its steps, then publish.")
        return _back(request, made.pk)
    return render(
        request,
        "execution/journeys/new.html",
        {"templates": [(m, JourneyMotion(m).label, TEMPLATES[m]) for m in TEMPLATES]},
    )


# --- One journey ---------------------------------------------------------------------------


class SettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    motion = forms.ChoiceField(choices=JourneyMotion.choices)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    owner = forms.ModelChoiceField(queryset=Membership.objects.none(), required=False)
    entry_type = forms.ChoiceField(label="Entry", choices=list(entry.ENTRY_TYPES.items()))
    entry_value = forms.CharField(
        label="Entry detail",
        required=False,
        help_text="The stage key, segment key, touchpoint type or event name.",
    )
    goals = forms.MultipleChoiceField(
        label="Exit goals",
        choices=list(GOAL_TYPES.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    goal_stage = forms.CharField(label="Goal stage", required=False, help_text="For “Reached a stage”.")
    reentry = forms.ChoiceField(label="Re-entry", choices=ReentryPolicy.choices)
    reentry_days = forms.IntegerField(label="Re-entry after (days)", required=False, min_value=1)
    suppress_customers = forms.BooleanField(label="Keep existing customers out", required=False)

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = (
            Membership.objects.for_org(org).filter(is_active=True).select_related("user")
        )
        self.fields["owner"].label_from_instance = lambda m: m.user.display_name

    @staticmethod
    def initial_for(journey: Journey) -> dict:
        entry_conf = journey.entry or {"type": "manual"}
        value = next((v for k, v in entry_conf.items() if k != "type"), "")
        stage_goal = next((g.get("stage") for g in journey.exit_goals if g["type"] == "stage_reached"), "")
        return {
            "name": journey.name, "motion": journey.motion, "description": journey.description,
            "owner": journey.owner_id, "entry_type": entry_conf.get("type", "manual"), "entry_value": value,
            "goals": [g["type"] for g in journey.exit_goals], "goal_stage": stage_goal,
            "reentry": journey.reentry, "reentry_days": journey.reentry_days,
            "suppress_customers": journey.suppress_customers,
        }  # fmt: skip

    def to_fields(self) -> dict:
        data = self.cleaned_data
        key = {
            "stage_reached": "stage",
            "segment_joined": "segment",
            "touchpoint": "touch_type",
            "event": "name",
        }
        entry_conf = {"type": data["entry_type"]}
        if data["entry_type"] in key:
            entry_conf[key[data["entry_type"]]] = data["entry_value"].strip()
        goals = [
            {"type": g, "stage": data["goal_stage"].strip()} if g == "stage_reached" else {"type": g}
            for g in data["goals"]
        ]
        return {
            "name": data["name"], "motion": data["motion"], "description": data["description"],
            "owner": data["owner"], "entry": entry_conf, "exit_goals": goals, "reentry": data["reentry"],
            "reentry_days": data["reentry_days"], "suppress_customers": data["suppress_customers"],
        }  # fmt: skip


@org_view()
def journey(request, pk):
    item = get_for_org(
        Journey.objects.select_related("current_version", "owner__user"), org=request.org, pk=pk
    )
    can_edit = request.membership.can(EDIT)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        form = SettingsForm(request.POST, org=request.org)
        if form.is_valid():
            try:
                services.journey_update(org=request.org, journey=item, **form.to_fields())
            except ServiceError as exc:
                _refuse(request, exc)
            else:
                messages.success(request, "Settings saved.")
            return _back(request, pk)
    else:
        form = SettingsForm(initial=SettingsForm.initial_for(item), org=request.org)
    enrollments = Paginator(
        Enrollment.objects.for_org(request.org)
        .filter(journey=item)
        .select_related("lead", "version")
        .order_by("-entered_at", "-id"),
        50,
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "execution/journeys/journey.html",
        {
            "journey": item,
            "form": form,
            "can_edit": can_edit,
            "draft": [(i, s, step_types.describe(s), step_values(s)) for i, s in enumerate(item.draft_steps)],
            "blank_step": step_values(None),
            "draft_changed": item.current_version is None or item.current_version.steps != item.draft_steps,
            "stats": analytics.journey_stats(org=request.org, journey=item),
            "enrollments": enrollments,
            "versions": item.versions.order_by("-number")[:10],
            "step_choices": list(step_types.STEP_TYPES.items()),
            "step_form": _step_form_context(request.org),
        },
    )


def _step_form_context(org) -> dict:
    return {
        "templates": EmailTemplate.objects.for_org(org).only("pk", "name"),
        "endpoints": WebhookEndpoint.objects.for_org(org).only("pk", "url"),
        "stages": LifecycleStage.objects.for_org(org).order_by("order").only("key", "name"),
        "fields": step_types.UPDATABLE_FIELDS,
        "ops": _ops(),
    }


def _ops():
    return list(OPERATORS.items())


def step_values(step: dict | None) -> dict:
    """Every input of the step form with this step's value (blank for the other types)."""
    values = dict.fromkeys(
        ("step_id", "type", "template", "wait_mode", "days", "hours", "minutes", "until", "business_hours",
         "condition_field", "condition_op", "condition_value", "segment", "then", "else", "field", "value",
         "title", "due_days", "to", "body", "endpoint"),
        "",
    )  # fmt: skip
    if not step:
        return values
    config = step.get(step["type"], {})
    values.update({"step_id": step["id"], "type": step["type"]})
    values.update({k: v for k, v in config.items() if k in values and not isinstance(v, list)})
    if step["type"] == "wait":
        values["wait_mode"] = "until" if config.get("until") else "business_hours" if config.get(
            "business_hours"
        ) else "duration"  # fmt: skip
    if step["type"] == "branch" and config.get("conditions"):
        condition = config["conditions"][0]
        value = condition.get("value", "")
        values.update(
            condition_field=condition["field"],
            condition_op=condition["op"],
            condition_value=", ".join(map(str, value)) if isinstance(value, list) else value,
        )
    return values


def step_from_post(post) -> dict:
    """A step dict from the structured step form (one set of inputs per step type)."""
    kind = post.get("type", "")
    value = {
        "email": lambda: {"template": post.get("template", "")},
        "wait": lambda: (
            {"until": post.get("until")}
            if post.get("wait_mode") == "until"
            else {"business_hours": post.get("business_hours")}
            if post.get("wait_mode") == "business_hours"
            else {k: post.get(k, "") for k in ("days", "hours", "minutes")}
        ),
        "branch": lambda: {
            "conditions": [
                {
                    "field": post.get("condition_field", "").strip(),
                    "op": post.get("condition_op"),
                    "value": _condition_value(post),
                }
            ]
            if post.get("condition_field", "").strip()
            else [],
            "segment": post.get("segment", ""),
            "then": post.get("then", ""),
            "else": post.get("else", ""),
        },
        "update": lambda: {"field": post.get("field"), "value": post.get("value", "")},
        "task": lambda: {"title": post.get("title", ""), "due_days": post.get("due_days", "")},
        "notify": lambda: {
            "title": post.get("title", ""),
            "to": post.get("to", "owner"),
            "body": post.get("body", ""),
        },
        "webhook": lambda: {"endpoint": post.get("endpoint", "")},
    }
    return {"id": post.get("step_id", "").strip(), "type": kind, kind: value[kind]() if kind in value else {}}


def _condition_value(post):
    raw = post.get("condition_value", "")
    if post.get("condition_op") in ("in", "not_in"):
        return [v.strip() for v in raw.split(",") if v.strip()]
    return raw


def _post_only(request):
    return None if request.method == "POST" else HttpResponseNotAllowed(["POST"])


def _change_steps(request, pk, change):
    item = get_for_org(Journey.objects.all(), org=request.org, pk=pk)
    if refused := _post_only(request):
        return refused
    draft = list(item.draft_steps)
    try:
        change(draft)
        services.journey_update(org=request.org, journey=item, draft_steps=draft)
    except (ServiceError, IndexError, ValueError) as exc:
        if isinstance(exc, ServiceError):
            _refuse(request, exc)
        else:
            messages.error(request, "That step does not exist.")
    else:
        messages.success(request, "Draft saved: publish to put it live.")
    return _back(request, pk)


@org_view(EDIT)
def journey_step_save(request, pk):
    def change(draft):
        step = step_from_post(request.POST)
        index = request.POST.get("index", "")
        if index == "":
            draft.append(step)
        else:
            draft[int(index)] = step

    return _change_steps(request, pk, change)


@org_view(EDIT)
def journey_step_delete(request, pk):
    return _change_steps(request, pk, lambda draft: draft.pop(int(request.POST.get("index", ""))))


@org_view(EDIT)
def journey_step_move(request, pk):
    def change(draft):
        index = int(request.POST.get("index", ""))
        other = index - 1 if request.POST.get("direction") == "up" else index + 1
        if not (0 <= index < len(draft) and 0 <= other < len(draft)):
            raise IndexError
        draft[index], draft[other] = draft[other], draft[index]

    return _change_steps(request, pk, change)


def _journey_action(request, pk, action, done: str):
    item = get_for_org(Journey.objects.all(), org=request.org, pk=pk)
    if refused := _post_only(request):
        return refused
    try:
        action(item)
    except ServiceError as exc:
        _refuse(request, exc)
    else:
        messages.success(request, done)
    return _back(request, pk)


@org_view(EDIT)
def journey_publish(request, pk):
    def publish(item):
        version = services.journey_publish(org=request.org, journey=item, actor=request.membership)
        messages.info(
            request, f"Version {version.number} is live; running enrolments finish on their version."
        )

    return _journey_action(request, pk, publish, "Published.")


@org_view(EDIT)
def journey_pause(request, pk):
    return _journey_action(
        request, pk, lambda j: services.journey_pause(org=request.org, journey=j), "Paused: no step runs now."
    )


@org_view(EDIT)
def journey_resume(request, pk):
    return _journey_action(
        request, pk, lambda j: services.journey_resume(org=request.org, journey=j), "Resumed."
    )


@org_view(EDIT)
def journey_archive(request, pk):
    return _journey_action(
        request,
        pk,
        lambda j: services.journey_archive(org=request.org, journey=j),
        "Archived: nobody enters it again, and its running enrolments have left it.",
    )


@org_view(EDIT)
def journey_enroll(request, pk):
    def enroll(item):
        raw = request.POST.get("lead", "").strip()
        leads = Lead.objects.for_org(request.org).filter(merged_into__isnull=True)
        person = (leads.filter(pk=int(raw)) if raw.isdigit() else leads.filter(email=raw.lower())).first()
        if person is None:
            raise ServiceError("No lead with that id or e-mail address.", field="lead")
        entry.enroll(org=request.org, journey=item, lead=person, source="manual")

    return _journey_action(request, pk, enroll, "Enrolled.")


@org_view("data.export")
def journey_export(request, pk):
    item = get_for_org(Journey.objects.all(), org=request.org, pk=pk)
    rows = (
        Enrollment.objects.for_org(request.org)
        .filter(journey=item)
        .select_related("lead", "version")
        .order_by("entered_at", "id")
    )
    header = ["enrollment", "lead", "email", "version", "status", "step", "entered_at", "finished_at"]
    header += ["exit_reason", "source"]
    return csv_response(
        f"journey-{item.pk}-enrolments.csv", header, (_csv_row(e) for e in rows.iterator(2000))
    )


def _csv_row(e: Enrollment) -> list:
    finished = e.finished_at.isoformat() if e.finished_at else ""
    row = [e.pk, e.lead_id, e.lead.email, e.version.number, e.status, e.step_id]
    return [*row, e.entered_at.isoformat(), finished, e.exit_reason, e.source]


# --- E-mail templates --------------------------------------------------------------------


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=200)
    subject = forms.CharField(max_length=300)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text="Merge fields: "
        + ", ".join("{{ " + f + " }}" for f in mail.MERGE_FIELDS)
        + ". An unsubscribe link is added to every e-mail.",
    )
    from_email = forms.CharField(
        label="From", max_length=254, required=False, help_text="Empty: the default sender."
    )


@org_view()
def email_templates(request):
    form = TemplateForm()
    if request.method == "POST":
        if not request.membership.can(EDIT):
            raise PermissionDenied
        form = TemplateForm(request.POST)
        if form.is_valid():
            try:
                services.email_template_create(org=request.org, **form.cleaned_data)
            except ServiceError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, "Template saved.")
                return redirect("execution_email_templates", org_slug=request.org.slug)
    return render(
        request,
        "execution/journeys/templates.html",
        {
            "rows": EmailTemplate.objects.for_org(request.org),
            "form": form,
            "can_edit": request.membership.can(EDIT),
        },
    )


@org_view()
def email_template(request, pk):
    item = get_for_org(EmailTemplate.objects.all(), org=request.org, pk=pk)
    can_edit = request.membership.can(EDIT)
    form = TemplateForm(initial={f: getattr(item, f) for f in TemplateForm.base_fields})
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied
        form = TemplateForm(request.POST)
        if form.is_valid():
            try:
                services.email_template_update(org=request.org, template=item, **form.cleaned_data)
            except ServiceError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, "Template saved.")
                return redirect("execution_email_template", org_slug=request.org.slug, pk=pk)
    return render(
        request, "execution/journeys/template.html", {"item": item, "form": form, "can_edit": can_edit}
    )


# --- Public: unsubscribe -----------------------------------------------------------------


@csrf_exempt  # RFC 8058 one-click unsubscribe posts without a session; the signed token is the proof
def unsubscribe(request, token):
    parsed = mail.read_unsubscribe_token(token)
    if parsed is None:
        return render(request, "execution/journeys/unsubscribe.html", {"invalid": True}, status=404)
    done = False
    if request.method == "POST":
        done = services.unsubscribe(token=token) is not None
    return render(request, "execution/journeys/unsubscribe.html", {"email": parsed[1], "done": done})


urlpatterns = [
    path("journeys/", journeys, name="execution_journeys"),
    path("journeys/new/", journey_new, name="execution_journey_new"),
    path("journeys/<int:pk>/", journey, name="execution_journey"),
    path("journeys/<int:pk>/steps/save/", journey_step_save, name="execution_journey_step_save"),
    path("journeys/<int:pk>/steps/delete/", journey_step_delete, name="execution_journey_step_delete"),
    path("journeys/<int:pk>/steps/move/", journey_step_move, name="execution_journey_step_move"),
    path("journeys/<int:pk>/publish/", journey_publish, name="execution_journey_publish"),
    path("journeys/<int:pk>/pause/", journey_pause, name="execution_journey_pause"),
    path("journeys/<int:pk>/resume/", journey_resume, name="execution_journey_resume"),
    path("journeys/<int:pk>/archive/", journey_archive, name="execution_journey_archive"),
    path("journeys/<int:pk>/enroll/", journey_enroll, name="execution_journey_enroll"),
    path("journeys/<int:pk>/enrollments.csv", journey_export, name="execution_journey_export"),
    path("email-templates/", email_templates, name="execution_email_templates"),
    path("email-templates/<int:pk>/", email_template, name="execution_email_template"),
]
# Mounted outside /o/<org>/ by revops/urls.py: the token names the organisation.
public_urlpatterns = [path("unsubscribe/<str:token>/", unsubscribe, name="journey_unsubscribe")]
