"""Experiments: the register (running tests and what past ones taught), a
test's results with the significance verdict, and start / stop / declare a winner."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path

from apps.accounts.access import org_view
from apps.accounts.models import Membership
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.execution.experiments import stats
from apps.execution.models import Campaign, Experiment, ExperimentStatus, Journey
from apps.execution.services import experiments as services
from apps.records.models import LifecycleStage
from apps.records.stages import FUNNEL

EDIT = "campaigns.edit"


class ExperimentForm(forms.Form):
    name = forms.CharField(max_length=200)
    hypothesis = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    variants = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One variant a line: key | name | weight (weight optional: 1). The first is the control.",
    )
    goal_type = forms.ChoiceField(choices=list(services.GOAL_TYPES.items()), label="Conversion goal")
    goal_stage = forms.ChoiceField(required=False, label="Stage to reach")
    journey = forms.ModelChoiceField(queryset=Journey.objects.none(), required=False)
    step_id = forms.CharField(max_length=40, required=False, label="Journey step")
    campaign = forms.ModelChoiceField(queryset=Campaign.objects.none(), required=False)
    owner = forms.ModelChoiceField(
        queryset=Membership.objects.none(),
        required=False,
        help_text="Who answers for the test and records what it taught.",
        error_messages={"invalid_choice": services.INACTIVE_OWNER},
    )

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["journey"].queryset = Journey.objects.for_org(org)
        self.fields["campaign"].queryset = Campaign.objects.for_org(org)
        # Only people who can still act are offered; anyone else posted is refused with the service's words.
        self.fields["owner"].queryset = (
            Membership.objects.for_org(org)
            .filter(is_active=True, user__is_active=True)
            .select_related("user")
            .order_by("user__full_name", "user__email")
        )
        self.fields["owner"].label_from_instance = lambda member: member.user.display_name
        stages = LifecycleStage.objects.for_org(org).filter(kind=FUNNEL).order_by("order")
        self.fields["goal_stage"].choices = [("", "—")] + [(s.key, s.name) for s in stages]

    def clean_variants(self):
        variants = []
        for line in self.cleaned_data["variants"].splitlines():
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split("|")]
            weight = parts[2] if len(parts) > 2 and parts[2] else "1"
            if not weight.isdigit():
                raise forms.ValidationError(f"The weight in “{line.strip()}” is a whole number.")
            variants.append(
                {"key": parts[0], "name": parts[1] if len(parts) > 1 else parts[0], "weight": int(weight)}
            )
        return variants

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "hypothesis": data["hypothesis"],
            "variants": data["variants"],
            "goal": {"type": data["goal_type"], "stage": data.get("goal_stage", "")},
            "journey": data["journey"],
            "step_id": data["step_id"],
            "campaign": data["campaign"],
            "owner": data["owner"],
        }


def _initial(experiment: Experiment) -> dict:
    return {
        "name": experiment.name,
        "hypothesis": experiment.hypothesis,
        "variants": "\n".join(f"{v['key']} | {v['name']} | {v['weight']}" for v in experiment.variants),
        "goal_type": experiment.goal.get("type"),
        "goal_stage": experiment.goal.get("stage", ""),
        "journey": experiment.journey_id,
        "step_id": experiment.step_id,
        "campaign": experiment.campaign_id,
        "owner": experiment.owner_id,
    }


class StopForm(forms.Form):
    winner = forms.CharField(max_length=40, required=False)
    learned = forms.CharField(max_length=5000, required=False)


@org_view()
def experiment_register(request):
    experiments = Experiment.objects.for_org(request.org).select_related("journey", "campaign", "owner__user")
    return render(
        request,
        "execution/experiments/register.html",
        {
            "running": [e for e in experiments if e.status != ExperimentStatus.STOPPED],
            "past": [e for e in experiments if e.status == ExperimentStatus.STOPPED],
            "can_edit": request.membership.can(EDIT),
        },
    )


def _form_page(request, form, experiment=None, status=200):
    return render(
        request, "execution/experiments/form.html", {"form": form, "experiment": experiment}, status=status
    )


@org_view(EDIT)
def experiment_new(request):
    form = ExperimentForm(request.POST or None, org=request.org, initial={"owner": request.membership.pk})
    if request.method == "POST" and form.is_valid():
        fields = form.service_fields()
        fields["owner"] = fields["owner"] or request.membership  # left blank: whoever creates it
        try:
            experiment = services.experiment_create(org=request.org, **fields)
        except ServiceError as exc:
            add_service_error(form, exc, aliases={"goal.type": "goal_type", "goal.stage": "goal_stage"})
        else:
            messages.success(
                request, f"Experiment “{experiment.name}” saved as a draft; start it when ready."
            )
            return redirect("execution_experiment", org_slug=request.org.slug, pk=experiment.pk)
    return _form_page(request, form, status=400 if request.method == "POST" else 200)


@org_view(EDIT)
def experiment_edit(request, pk):
    experiment = get_for_org(Experiment.objects.all(), org=request.org, pk=pk)
    form = ExperimentForm(request.POST or None, org=request.org, initial=_initial(experiment))
    if request.method == "POST" and form.is_valid():
        fields = form.service_fields()
        if experiment.status != ExperimentStatus.DRAFT:
            # Variants and goal are fixed once started; the form shows them read-only.
            fields.pop("variants"), fields.pop("goal")
        try:
            services.experiment_update(org=request.org, experiment=experiment, **fields)
        except ServiceError as exc:
            add_service_error(form, exc, aliases={"goal.type": "goal_type", "goal.stage": "goal_stage"})
        else:
            messages.success(request, "Experiment saved.")
            return redirect("execution_experiment", org_slug=request.org.slug, pk=experiment.pk)
    return _form_page(request, form, experiment, status=400 if request.method == "POST" else 200)


@org_view()
def experiment_detail(request, pk):
    experiment = get_for_org(
        Experiment.objects.select_related("journey", "campaign", "owner__user"), org=request.org, pk=pk
    )
    results = services.experiment_results(org=request.org, experiment=experiment)
    names = {v["key"]: v["name"] for v in experiment.variants}
    return render(
        request,
        "execution/experiments/detail.html",
        {
            "experiment": experiment,
            "results": results,
            "rows": [
                (names.get(r.arm.key, r.arm.key), r, stats.VERDICTS.get(r.verdict, "")) for r in results.arms
            ],
            "goal": services.goal_label(request.org, experiment.goal),
            "confidence": round((1 - results.alpha) * 100, 1),
            "can_edit": request.membership.can(EDIT),
        },
    )


@org_view(EDIT)
def experiment_start(request, pk):
    experiment = get_for_org(Experiment.objects.all(), org=request.org, pk=pk)
    if request.method == "POST":
        try:
            services.experiment_start(org=request.org, experiment=experiment)
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Running: leads reaching the step now get a variant.")
    return redirect("execution_experiment", org_slug=request.org.slug, pk=experiment.pk)


@org_view(EDIT)
def experiment_stop(request, pk):
    experiment = get_for_org(Experiment.objects.all(), org=request.org, pk=pk)
    if request.method == "POST":
        form = StopForm(request.POST)
        form.is_valid()
        try:
            services.experiment_stop(
                org=request.org,
                experiment=experiment,
                winner=form.cleaned_data.get("winner", ""),
                learned=form.cleaned_data.get("learned") or None,
            )
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "Stopped; the register keeps the results and what was learned.")
    return redirect("execution_experiment", org_slug=request.org.slug, pk=experiment.pk)


urlpatterns = [
    path("experiments/", experiment_register, name="execution_experiments"),
    path("experiments/new/", experiment_new, name="execution_experiment_new"),
    path("experiments/<int:pk>/", experiment_detail, name="execution_experiment"),
    path("experiments/<int:pk>/edit/", experiment_edit, name="execution_experiment_edit"),
    path("experiments/<int:pk>/start/", experiment_start, name="execution_experiment_start"),
    path("experiments/<int:pk>/stop/", experiment_stop, name="execution_experiment_stop"),
]
