"""The definitions page: lifecycle stages in order, what "qualified" counts, published versions."""

from .. import stages
from ..models import LifecycleStage, StageDefinitionVersion

# --- Definitions ----------------------------------------------------------------------


def stage_list(*, org) -> list[LifecycleStage]:
    return list(LifecycleStage.objects.for_org(org).select_related("owner_team").order_by("order", "id"))


def qualified_stages(stage_rows: list[LifecycleStage]) -> list[LifecycleStage]:
    """Funnel stages from QUALIFIED_FROM onwards: what "qualified" counts."""
    start = next((s.order for s in stage_rows if s.key == stages.QUALIFIED_FROM), None)
    if start is None:
        return []
    return [s for s in stage_rows if s.kind == stages.FUNNEL and s.order >= start]


def definition_versions(*, org):
    return StageDefinitionVersion.objects.for_org(org).select_related("created_by").order_by("-number")


def previous_version(*, org, version) -> StageDefinitionVersion | None:
    return (
        StageDefinitionVersion.objects.for_org(org)
        .filter(number__lt=version.number)
        .order_by("-number")
        .first()
    )
