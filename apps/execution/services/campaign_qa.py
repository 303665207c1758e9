"""The QA checklist: the organisation's checks, how each automatic one is judged, and manual ticks.

An organisation gets the default checklist the first time it opens the
checklist or runs QA (`checklist_for`). Automatic checks are re-evaluated by
every run (`qa_run`); a manual check keeps the tick a person gave it until
someone unticks it. Each check's last result is one QaResult row.

The routing check asks the routing simulator (read-only) who would get the
campaign's audience: a sample of recent leads matching `expected_audience`
(or, when none match yet, a lead built from the conditions' values). It fails
when any of them would fall to the fallback queue or wait unassigned.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.core.errors import ServiceError
from apps.execution.models import Campaign, Journey, JourneyStatus, QaCheck, QaCheckKind, QaResult
from apps.execution.routing import types
from apps.records import conditions, quality
from apps.records.models import Lead

from . import simulation, utm

K = QaCheckKind
DEFAULTS = (
    (K.UTM_VALID, "UTM values follow the taxonomy"),
    (K.JOURNEY_ATTACHED, "A follow-up journey is attached (active or draft)"),
    (K.ROUTING_COVERS, "Routing covers the expected audience"),
    (K.BUDGET_AND_KPI, "Planned budget and success KPI are set"),
    (K.MANUAL, "Links, forms and tracking tested by hand"),
)
AUTOMATIC = frozenset({K.UTM_VALID, K.JOURNEY_ATTACHED, K.ROUTING_COVERS, K.BUDGET_AND_KPI})
# The audience sample: recent enough to reflect today's leads, small enough to simulate in a request.
SAMPLE_DAYS = 90
SAMPLE_SCAN = 2000
SAMPLE_SIZE = 25


@dataclass(frozen=True)
class Verdict:
    passed: bool
    detail: str


def checklist_for(org, *, active_only: bool = False) -> list[QaCheck]:
    """The organisation's checks in order, creating the defaults on first use."""
    checks = QaCheck.objects.for_org(org)
    if not checks.exists():
        with transaction.atomic():
            QaCheck.objects.bulk_create(
                QaCheck(organization=org, kind=kind, label=label, position=index)
                for index, (kind, label) in enumerate(DEFAULTS)
            )
    if active_only:
        checks = checks.filter(active=True)
    return list(checks.order_by("position", "id"))


# The automatic checks ------------------------------------------------------------------------------


def _utm_valid(org, campaign: Campaign) -> Verdict:
    values = {name: getattr(campaign, name) for name in utm.FIELDS}
    problems = utm.validate(utm.taxonomy_for(org), values)
    if problems:
        return Verdict(False, " ".join(p.message for p in problems))
    return Verdict(True, "Source, medium and campaign follow the taxonomy.")


def _journey_attached(org, campaign: Campaign) -> Verdict:
    journeys = Journey.objects.for_org(org).filter(
        campaign=campaign, status__in=[JourneyStatus.ACTIVE, JourneyStatus.DRAFT]
    )
    names = list(journeys.values_list("name", flat=True)[:3])
    if not names:
        return Verdict(False, "No active or draft journey follows this campaign up.")
    return Verdict(True, f"Followed up by {', '.join(names)}.")


def _budget_and_kpi(org, campaign: Campaign) -> Verdict:
    missing = []
    if campaign.planned_budget is None:
        missing.append("a planned budget")
    if not campaign.success_metric or campaign.success_target is None:
        missing.append("a success KPI with a target")
    if missing:
        return Verdict(False, f"Set {' and '.join(missing)}.")
    return Verdict(True, "Budget and success KPI are set.")


def audience_sample(org, campaign: Campaign) -> list[Lead]:
    """Recent leads matching the expected audience, newest first (at most SAMPLE_SIZE)."""
    audience = campaign.expected_audience or []
    if not audience:
        return []
    since = timezone.now() - timedelta(days=SAMPLE_DAYS)
    recent = (
        Lead.objects.for_org(org)
        .filter(captured_at__gte=since, merged_into__isnull=True)
        .select_related("stage")
        .order_by("-captured_at", "-id")[:SAMPLE_SCAN]
    )
    sample = []
    for lead in recent:
        if conditions.matches(audience, quality.as_record(lead)):
            sample.append(lead)
            if len(sample) == SAMPLE_SIZE:
                break
    return sample


def _lead_from_conditions(audience: list[dict]) -> dict:
    """A lead's fields taken from the conditions that name a value (equals, or the first of a list)."""
    data = {}
    for condition in audience:
        field, value = condition.get("field"), condition.get("value")
        if field not in simulation.PREVIEW_FIELDS and not str(field).startswith("custom."):
            continue
        if condition["op"] == "in" and value:
            value = value[0]
        elif condition["op"] not in ("equals", "starts_with", "gte", "lte"):
            continue
        if str(field).startswith("custom."):
            data.setdefault("custom", {})[field.removeprefix("custom.")] = value
        else:
            data[field] = value
    return data


def _covered(decision: types.Decision) -> bool:
    return decision.outcome in (types.ASSIGNED, types.HELD) and decision.rule_index is not None


def _routing_covers(org, campaign: Campaign) -> Verdict:
    if not campaign.expected_audience:
        return Verdict(False, "Describe the expected audience (routing conditions) so routing can be tested.")
    sample = audience_sample(org, campaign)
    if sample:
        missed = [lead for lead in sample if not _covered(simulation.simulate_lead(org=org, lead=lead))]
        if missed:
            names = ", ".join(str(lead) for lead in missed[:3])
            return Verdict(
                False,
                f"{len(missed)} of {len(sample)} recent matching leads would fall to the "
                f"fallback queue or wait unassigned (e.g. {names}).",
            )
        return Verdict(True, f"All {len(sample)} recent matching leads would be routed by a rule.")
    data = _lead_from_conditions(campaign.expected_audience)
    if not data:
        return Verdict(False, "No recent lead matches the audience and its conditions name no value to test.")
    try:
        decision = simulation.preview_lead_data(org=org, data=data)
    except ServiceError as exc:
        return Verdict(False, f"The audience could not be simulated: {exc.message}")
    if not _covered(decision):
        return Verdict(False, "A lead of this audience would fall to the fallback queue or wait unassigned.")
    return Verdict(True, f"A lead of this audience would be routed by rule “{decision.rule_name}”.")


JUDGES = {
    K.UTM_VALID: _utm_valid,
    K.JOURNEY_ATTACHED: _journey_attached,
    K.ROUTING_COVERS: _routing_covers,
    K.BUDGET_AND_KPI: _budget_and_kpi,
}


# Runs and ticks ----------------------------------------------------------------------------------


@transaction.atomic
def qa_run(*, org, campaign: Campaign, actor=None, at=None) -> list[QaResult]:
    """Evaluate every active automatic check and return all active checks' results, in order.

    A manual check nobody has ticked yet counts as failing."""
    at = at or timezone.now()
    checks = checklist_for(org, active_only=True)
    existing = {r.item_id: r for r in QaResult.objects.for_org(org).filter(campaign=campaign)}
    results = []
    for check in checks:
        result = existing.get(check.pk)
        if check.kind in AUTOMATIC:
            verdict = JUDGES[check.kind](org, campaign)
            result, _ = QaResult.objects.update_or_create(
                organization=org,
                campaign=campaign,
                item=check,
                defaults={
                    "passed": verdict.passed,
                    "detail": verdict.detail[:500],
                    "checked_by": actor,
                    "checked_at": at,
                },
            )
        elif result is None:
            result = QaResult(
                organization=org,
                campaign=campaign,
                item=check,
                passed=False,
                detail="Not ticked yet.",
                checked_at=at,
            )
        results.append(result)
    return results


def qa_results(*, org, campaign: Campaign) -> list[tuple[QaCheck, QaResult | None]]:
    """Each active check with its last result (None when never run or ticked), without running anything."""
    checks = checklist_for(org, active_only=True)
    found = {
        r.item_id: r
        for r in QaResult.objects.for_org(org).filter(campaign=campaign).select_related("checked_by__user")
    }
    return [(check, found.get(check.pk)) for check in checks]


@transaction.atomic
def qa_tick(*, org, campaign: Campaign, check: QaCheck, passed: bool, actor, note: str = "") -> QaResult:
    """A person's verdict on a manual check."""
    if check.organization_id != org.pk:
        raise ServiceError("No such check here.", field="check")
    if check.kind != K.MANUAL:
        raise ServiceError("Automatic checks are judged by running QA, not ticked.", field="check")
    detail = (note or "").strip()[:500] or ("Checked." if passed else "Not passing.")
    result, _ = QaResult.objects.update_or_create(
        organization=org,
        campaign=campaign,
        item=check,
        defaults={
            "passed": bool(passed),
            "detail": detail,
            "checked_by": actor,
            "checked_at": timezone.now(),
        },
    )
    return result


# The checklist itself ------------------------------------------------------------------------------


def _clean_check(kind: str, label: str) -> tuple[str, str]:
    if kind not in K.values:
        raise ServiceError(f"Choose one of: {', '.join(K.values)}.", field="kind")
    label = (label or "").strip()
    if not label:
        raise ServiceError("Give the check a label.", field="label")
    if len(label) > 200:
        raise ServiceError("Keep it under 200 characters.", field="label")
    return kind, label


@transaction.atomic
def qa_check_create(*, org, kind: str, label: str, required: bool = True) -> QaCheck:
    kind, label = _clean_check(kind, label)
    checks = checklist_for(org)
    position = max((c.position for c in checks), default=-1) + 1
    return QaCheck.objects.create(
        organization=org, kind=kind, label=label, required=required, position=position
    )


@transaction.atomic
def qa_check_update(*, org, check: QaCheck, label: str, required: bool, active: bool) -> QaCheck:
    _, check.label = _clean_check(check.kind, label)
    check.required, check.active = bool(required), bool(active)
    check.save()
    return check
