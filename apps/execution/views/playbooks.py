"""Playbooks: runbooks in Markdown for a lifecycle stage or a campaign type.
Everyone reads them (and sees a stage's playbooks on the lead page); operators write them."""

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import path

from apps.accounts.access import org_view
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org
from apps.execution import markdown
from apps.execution.models import CampaignType, Playbook
from apps.execution.services import playbooks as services
from apps.records.models import LifecycleStage

EDIT = "definitions.edit"


class PlaybookForm(forms.Form):
    title = forms.CharField(max_length=200)
    stage = forms.ModelChoiceField(queryset=LifecycleStage.objects.none(), required=False)
    campaign_type = forms.ChoiceField(choices=[("", "—"), *CampaignType.choices], required=False)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 16}),
        help_text="Markdown: # headings, - lists, 1. steps, **bold**, *italic*, `code`, [links](https://…).",
    )

    def __init__(self, *args, org, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = LifecycleStage.objects.for_org(org).order_by("order")


def _labelled(playbook: Playbook) -> Playbook:
    # campaign_type is a plain field (the choices live with campaigns), so the label is looked up here.
    playbook.type_label = dict(CampaignType.choices).get(playbook.campaign_type, "")
    return playbook


@org_view()
def playbook_list(request):
    playbooks = [_labelled(p) for p in Playbook.objects.for_org(request.org).select_related("stage")]
    return render(
        request,
        "execution/playbooks/list.html",
        {"playbooks": playbooks, "can_edit": request.membership.can(EDIT)},
    )


@org_view()
def playbook_detail(request, pk):
    playbook = _labelled(get_for_org(Playbook.objects.select_related("stage"), org=request.org, pk=pk))
    return render(
        request,
        "execution/playbooks/detail.html",
        {
            "playbook": playbook,
            "html": markdown.render(playbook.body),
            "can_edit": request.membership.can(EDIT),
        },
    )


def _save(request, form, playbook=None):
    try:
        if playbook is None:
            return services.playbook_create(org=request.org, **form.cleaned_data)
        return services.playbook_update(org=request.org, playbook=playbook, **form.cleaned_data)
    except ServiceError as exc:
        add_service_error(form, exc)
        return None


@org_view(EDIT)
def playbook_new(request):
    form = PlaybookForm(request.POST or None, org=request.org, initial={"stage": request.GET.get("stage")})
    if request.method == "POST" and form.is_valid() and (playbook := _save(request, form)):
        messages.success(request, f"Playbook “{playbook.title}” saved.")
        return redirect("execution_playbook", org_slug=request.org.slug, pk=playbook.pk)
    return render(
        request,
        "execution/playbooks/form.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


@org_view(EDIT)
def playbook_edit(request, pk):
    playbook = get_for_org(Playbook.objects.all(), org=request.org, pk=pk)
    initial = {
        "title": playbook.title,
        "stage": playbook.stage_id,
        "campaign_type": playbook.campaign_type,
        "body": playbook.body,
    }
    form = PlaybookForm(request.POST or None, org=request.org, initial=initial)
    if request.method == "POST" and form.is_valid() and _save(request, form, playbook):
        messages.success(request, "Playbook saved.")
        return redirect("execution_playbook", org_slug=request.org.slug, pk=playbook.pk)
    return render(
        request,
        "execution/playbooks/form.html",
        {"form": form, "playbook": playbook},
        status=400 if request.method == "POST" else 200,
    )


@org_view(EDIT)
def playbook_delete(request, pk):
    playbook = get_for_org(Playbook.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":
        return redirect("execution_playbook", org_slug=request.org.slug, pk=playbook.pk)
    services.playbook_delete(org=request.org, playbook=playbook)
    messages.success(request, f"Playbook “{playbook.title}” deleted.")
    return redirect("execution_playbooks", org_slug=request.org.slug)


urlpatterns = [
    path("playbooks/", playbook_list, name="execution_playbooks"),
    path("playbooks/new/", playbook_new, name="execution_playbook_new"),
    path("playbooks/<int:pk>/", playbook_detail, name="execution_playbook"),
    path("playbooks/<int:pk>/edit/", playbook_edit, name="execution_playbook_edit"),
    path("playbooks/<int:pk>/delete/", playbook_delete, name="execution_playbook_delete"),
]
