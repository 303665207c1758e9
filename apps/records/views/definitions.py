"""Definitions pages: lifecycle stages and their published versions, and custom fields."""

from django.contrib import messages
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect, render

from apps.accounts.access import org_view, require_permission
from apps.accounts.models import Team
from apps.core.errors import ServiceError
from apps.core.forms import add_service_error
from apps.core.lookups import get_for_org

from .. import definitions, selectors, services
from ..forms import (
    ConditionFormSet,
    CustomFieldForm,
    StageEditForm,
    condition_initial,
    formset_rule,
    rule_field_choices,
)
from ..models import (
    CustomField,
    LifecycleStage,
    ObjectType,
    StageDefinitionVersion,
)

# --- Definitions ------------------------------------------------------------------------------


@org_view()
def records_definitions(request):
    if "as_of" in request.GET:
        # The operating model as of a past date is read from change requests and history.
        from apps.governance.views.changes import definitions_as_of

        return definitions_as_of(request)
    stages = selectors.stage_list(org=request.org)
    return render(
        request,
        "records/definitions.html",
        {
            "stages": [(stage, definitions.rule_parts(stage.rule)) for stage in stages],
            "qualified": selectors.qualified_stages(stages),
            "detours": [s for s in stages if s.kind != "funnel"],
            "versions": selectors.definition_versions(org=request.org),
            "can_edit": request.membership.can("definitions.edit"),
        },
    )


@org_view("definitions.edit")
def records_stage_edit(request, pk):
    org = request.org
    stage = get_for_org(LifecycleStage.objects.select_related("owner_team"), org=org, pk=pk)
    teams = Team.objects.for_org(org).order_by("name")
    field_choices = rule_field_choices(selectors.custom_fields_for(org=org, object_type=ObjectType.LEAD))
    if request.method == "POST":
        form = StageEditForm(request.POST, teams=teams, time_zone=org.time_zone)
        formset = ConditionFormSet(request.POST, prefix="rule", form_kwargs={"field_choices": field_choices})
        if form.is_valid() and formset.is_valid():
            changes = definitions.stage_changes(stage, **form.stage_fields(), rule=formset_rule(formset))
            if not changes:
                form.add_error(None, "Nothing changed, so no new version was published.")
            else:
                try:
                    version = services.stage_update(
                        org=org,
                        stage=stage,
                        actor=request.user,
                        note=form.cleaned_data["note"],
                        effective_from=form.effective_from(),
                        **changes,
                    )
                except ServiceError as exc:
                    stage.refresh_from_db()
                    add_service_error(form, exc)
                else:
                    messages.success(request, f"{stage.name} updated: version {version.number} published.")
                    return redirect("records_definition_version", org_slug=org.slug, pk=version.pk)
    else:
        form = StageEditForm(
            teams=teams,
            time_zone=org.time_zone,
            initial={
                "name": stage.name,
                "order": stage.order,
                "entry_criteria": stage.entry_criteria,
                "owner_team": stage.owner_team_id,
            },
        )
        formset = ConditionFormSet(
            prefix="rule", initial=condition_initial(stage.rule), form_kwargs={"field_choices": field_choices}
        )
    return render(request, "records/stage_edit.html", {"stage": stage, "form": form, "formset": formset})


@org_view()
def records_definition_version(request, pk):
    version = get_for_org(StageDefinitionVersion.objects.select_related("created_by"), org=request.org, pk=pk)
    previous = selectors.previous_version(org=request.org, version=version)
    return render(
        request,
        "records/version.html",
        {
            "version": version,
            "previous": previous,
            "snapshot": [(s, definitions.rule_text(s.get("rule"))) for s in version.snapshot],
            "diff": definitions.snapshot_diff(previous.snapshot, version.snapshot) if previous else None,
        },
    )


@org_view()
def records_custom_fields(request):
    org = request.org
    can_edit = request.membership.can("definitions.edit")
    form = None
    if request.method == "POST":
        require_permission(request, "definitions.edit")
        form = CustomFieldForm(request.POST)
        if form.is_valid():
            try:
                field = definitions.custom_field_create(org=org, **form.cleaned_data)
            except ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Custom field “{field.label}” added to {field.get_object_type_display().lower()}s.",
                )
                return redirect("records_custom_fields", org_slug=org.slug)
    elif can_edit:
        form = CustomFieldForm()
    fields = CustomField.objects.for_org(org).order_by("object_type", "label")
    return render(
        request, "records/custom_fields.html", {"fields": fields, "form": form, "can_edit": can_edit}
    )


@org_view("definitions.edit")
def records_custom_field_delete(request, pk):
    field = get_for_org(CustomField.objects.all(), org=request.org, pk=pk)
    if request.method != "POST":  # after the lookup: another org's id stays a 404
        return HttpResponseNotAllowed(["POST"])
    definitions.custom_field_delete(org=request.org, custom_field=field)
    messages.success(
        request, f"Custom field “{field.label}” deleted; values already stored stay on the records."
    )
    return redirect("records_custom_fields", org_slug=request.org.slug)
