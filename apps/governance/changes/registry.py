"""Subject → adapter module: the one place the workflow looks a subject up."""

from types import ModuleType

from apps.core.errors import ServiceError

from . import kpi, metrics, routing, sla, stages

ADAPTERS: dict[str, ModuleType] = {
    stages.SUBJECT: stages,
    routing.SUBJECT: routing,
    sla.SUBJECT: sla,
    metrics.SUBJECT: metrics,
    kpi.SUBJECT: kpi,
}
# Subjects with several objects to choose from (the request's `target_id`); the others have one.
TARGETED = frozenset({routing.SUBJECT, sla.SUBJECT})


def adapter(subject: str) -> ModuleType:
    try:
        return ADAPTERS[subject]
    except KeyError:
        raise ServiceError(
            f"Unknown subject {subject!r}; one of: {', '.join(ADAPTERS)}.", field="subject"
        ) from None


def targets(org, subject: str) -> list[tuple[int, str]]:
    """What a request on `subject` may target (empty for subjects with a single object)."""
    module = adapter(subject)
    return module.targets(org) if subject in TARGETED else []
