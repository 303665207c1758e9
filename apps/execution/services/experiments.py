"""A/B/n experiments on offers and messages in journeys and campaigns.

For the journey engine: call `assign(experiment, lead)` when a lead reaches
the step the experiment varies (`experiment.step_id`) and use the content of
the variant it returns (`variant(experiment, key)`, whose extra keys override
the step's content, e.g. {"subject": ...} or {"offer": <offer id>}):

    key = experiments.assign(experiment, lead)
    content = {**step, **experiments.variant(experiment, key)} if key else step

`assign` is deterministic (a hash of experiment id and lead id into the
weighted buckets, see `apps.execution.experiments.stats.bucket`) and records
the assignment once, so a retried step gets the same variant. It returns
None for a draft (send the step's own content) and the winner for a stopped
experiment with one (everyone gets the winning content from then on).

Conversions are read from the data, never reported by hand: the goal is
{"type": "stage_reached", "stage": "<key>"} (the lead entered that funnel stage
or a later one after being assigned) or {"type": "opportunity_created"} (an
opportunity with the lead as primary contact or on its account was created
after the assignment). Stopping freezes each assignment's conversion time.
"""

import re
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.utils import timezone

from apps.accounts.services import is_active_member
from apps.core.errors import ServiceError
from apps.execution.experiments import stats
from apps.execution.models import Experiment, ExperimentAssignment, ExperimentStatus
from apps.records.models import LifecycleStage, Opportunity, StageEvent
from apps.records.stages import FUNNEL

GOAL_TYPES = {"stage_reached": "Reached a stage", "opportunity_created": "Opportunity created"}
_KEY = re.compile(r"^[a-z0-9_-]{1,40}$")
MAX_VARIANTS = 6


def clean_variants(variants) -> list[dict]:
    if not isinstance(variants, list) or not 2 <= len(variants) <= MAX_VARIANTS:
        raise ServiceError(
            f"Give between 2 and {MAX_VARIANTS} variants; the first is the control.", field="variants"
        )
    cleaned, keys = [], set()
    for index, variant in enumerate(variants):
        where = f"variants[{index}]"
        if not isinstance(variant, dict):
            raise ServiceError("Each variant is an object with a key and a name.", field=where)
        key = str(variant.get("key", "")).strip().lower()
        if not _KEY.match(key) or key in keys:
            raise ServiceError(
                "Give each variant its own short key (letters, digits, - or _).", field=f"{where}.key"
            )
        name = str(variant.get("name", "")).strip()
        if not name:
            raise ServiceError("Name the variant.", field=f"{where}.name")
        weight = variant.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight <= 0:
            raise ServiceError("A weight is a positive number.", field=f"{where}.weight")
        keys.add(key)
        cleaned.append({**variant, "key": key, "name": name[:120], "weight": weight})
    return cleaned


def _check_variant_content(org, variants: list[dict]) -> None:
    """What a variant may override in a journey e-mail step: its template (one of this organisation's)
    and its subject line."""
    from apps.execution.models import EmailTemplate

    for index, variant in enumerate(variants):
        template = variant.get("template")
        if template is not None and (
            isinstance(template, bool)
            or not isinstance(template, int)
            or not EmailTemplate.objects.for_org(org).filter(pk=template).exists()
        ):
            raise ServiceError("No such e-mail template here.", field=f"variants[{index}].template")
        subject = variant.get("subject")
        if subject is not None and (not isinstance(subject, str) or not 0 < len(subject.strip()) <= 300):
            raise ServiceError("A subject line is 1 to 300 characters.", field=f"variants[{index}].subject")


def clean_goal(org, goal) -> dict:
    if not isinstance(goal, dict) or goal.get("type") not in GOAL_TYPES:
        raise ServiceError("The goal is stage_reached or opportunity_created.", field="goal.type")
    if goal["type"] == "opportunity_created":
        return {"type": "opportunity_created"}
    stage = str(goal.get("stage", ""))
    if not LifecycleStage.objects.for_org(org).filter(key=stage, kind=FUNNEL).exists():
        raise ServiceError("Choose a funnel stage to reach.", field="goal.stage")
    return {"type": "stage_reached", "stage": stage}


def goal_label(org, goal: dict) -> str:
    if goal.get("type") == "stage_reached":
        stage = LifecycleStage.objects.for_org(org).filter(key=goal.get("stage")).first()
        return f"Reached {stage.name if stage else goal.get('stage')}"
    return GOAL_TYPES.get(goal.get("type"), "—")


INACTIVE_OWNER = "Choose an active member of this organisation."


def _check_links(org, *, journey=None, campaign=None, owner=None) -> None:
    for value, field in ((journey, "journey"), (campaign, "campaign")):
        if value is not None and value.organization_id != org.pk:
            raise ServiceError(f"No such {field} here.", field=field)
    # The owner answers for the test and records what it taught: someone who has left cannot.
    if owner is not None and not is_active_member(org, owner):
        raise ServiceError(INACTIVE_OWNER, field="owner")


@transaction.atomic
def experiment_create(
    *, org, name: str, variants, goal, hypothesis: str = "", journey=None, step_id: str = "", campaign=None,
    owner=None,
) -> Experiment:  # fmt: skip
    if not (name or "").strip():
        raise ServiceError("Name the experiment.", field="name")
    _check_links(org, journey=journey, campaign=campaign, owner=owner)
    variants = clean_variants(variants)
    _check_variant_content(org, variants)
    return Experiment.objects.create(
        organization=org, name=name.strip()[:200], hypothesis=hypothesis, journey=journey,
        step_id=(step_id or "")[:40], campaign=campaign, owner=owner, variants=variants,
        goal=clean_goal(org, goal),
    )  # fmt: skip


LOCKED_ONCE_STARTED = {"variants", "goal"}
EDITABLE = {"name", "hypothesis", "journey", "step_id", "campaign", "owner", "learned", *LOCKED_ONCE_STARTED}


@transaction.atomic
def experiment_update(*, org, experiment: Experiment, **fields) -> Experiment:
    """Change an experiment; its variants and goal are fixed once it has started
    (new weights would move people between variants, a new goal would rewrite the results)."""
    unknown = set(fields) - EDITABLE
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    locked = LOCKED_ONCE_STARTED & set(fields)
    if locked and experiment.status != ExperimentStatus.DRAFT:
        field = sorted(locked)[0]
        raise ServiceError(f"The {field} cannot change once the experiment has started.", field=field)
    _check_links(
        org, journey=fields.get("journey"), campaign=fields.get("campaign"), owner=fields.get("owner")
    )
    if "variants" in fields:
        fields["variants"] = clean_variants(fields["variants"])
        _check_variant_content(org, fields["variants"])
    if "goal" in fields:
        fields["goal"] = clean_goal(org, fields["goal"])
    if "name" in fields and not (fields["name"] or "").strip():
        raise ServiceError("Name the experiment.", field="name")
    for key, value in fields.items():
        setattr(experiment, key, value)
    experiment.save()
    return experiment


@transaction.atomic
def experiment_start(*, org, experiment: Experiment) -> Experiment:
    if experiment.status != ExperimentStatus.DRAFT:
        raise ServiceError("Only a draft can start.", code="not_draft", field="status")
    experiment.status, experiment.started_at = ExperimentStatus.RUNNING, timezone.now()
    experiment.save(update_fields=["status", "started_at", "updated_at"])
    return experiment


@transaction.atomic
def experiment_stop(
    *, org, experiment: Experiment, winner: str = "", learned: str | None = None
) -> Experiment:
    """Stop the test (declaring `winner`, a variant key, or none) and freeze its conversions."""
    keys = [v["key"] for v in experiment.variants]
    if winner and winner not in keys:
        raise ServiceError(f"The winner is one of: {', '.join(keys)}.", field="winner")
    if experiment.status == ExperimentStatus.DRAFT:
        raise ServiceError("Start the experiment before stopping it.", code="not_running", field="status")
    if experiment.status == ExperimentStatus.RUNNING:
        experiment.stopped_at = timezone.now()
        _freeze_conversions(org, experiment)
    experiment.status, experiment.winner = ExperimentStatus.STOPPED, winner
    if learned is not None:
        experiment.learned = learned
    experiment.save(update_fields=["status", "stopped_at", "winner", "learned", "updated_at"])
    return experiment


@transaction.atomic
def experiment_delete(*, org, experiment: Experiment) -> None:
    if experiment.status != ExperimentStatus.DRAFT:
        raise ServiceError(
            "Only a draft can be deleted: a test that ran stays in the register.",
            code="not_draft",
            field="status",
        )
    experiment.delete()


# --- Assignment ---------------------------------------------------------------------------------


def variant(experiment: Experiment, key: str) -> dict:
    """The variant's content overrides (its keys other than key, name and weight)."""
    found = next((v for v in experiment.variants if v["key"] == key), None)
    if found is None:
        return {}
    return {k: v for k, v in found.items() if k not in {"key", "name", "weight"}}


def pick(experiment: Experiment, lead_id: int) -> str:
    """The variant a lead falls into; pure, so it can be checked without writing anything."""
    index = stats.bucket(experiment.pk, lead_id, [v["weight"] for v in experiment.variants])
    return experiment.variants[index]["key"]


def assign(experiment: Experiment, lead, *, at: datetime | None = None) -> str | None:
    """The variant `lead` gets (recorded once); None for a draft. See the module docstring."""
    if lead.organization_id != experiment.organization_id:
        raise ServiceError("No such lead in this organisation.", field="lead")
    if experiment.status == ExperimentStatus.DRAFT:
        return None
    if experiment.status == ExperimentStatus.STOPPED:
        existing = ExperimentAssignment.objects.filter(experiment=experiment, lead=lead).first()
        return experiment.winner or (existing.variant if existing else None)
    assignment, _ = ExperimentAssignment.objects.get_or_create(
        experiment=experiment,
        lead=lead,
        defaults={
            "organization_id": experiment.organization_id,
            "variant": pick(experiment, lead.pk),
            "assigned_at": at or timezone.now(),
        },
    )
    return assignment.variant


# --- Conversions and results ---------------------------------------------------------------------------


def _conversions(org, experiment: Experiment):
    """Conversion events after each assignment (OuterRef: the assignment), up to the stop."""
    goal = experiment.goal
    until = experiment.stopped_at or timezone.now()
    if goal.get("type") == "stage_reached":
        target = LifecycleStage.objects.for_org(org).filter(key=goal.get("stage")).first()
        order = target.order if target else 0
        reached = LifecycleStage.objects.for_org(org).filter(kind=FUNNEL, order__gte=order).values("key")
        return (
            StageEvent.objects.filter(
                organization=org, lead=OuterRef("lead"), to_stage__in=reached,
                at__gte=OuterRef("assigned_at"), at__lte=until,
            ),
            "at",
        )  # fmt: skip
    return (
        Opportunity.objects.filter(
            Q(primary_contact=OuterRef("lead")) | Q(account=OuterRef("lead__account"), account__isnull=False),
            organization=org, created_at__gte=OuterRef("assigned_at"), created_at__lte=until,
        ),
        "created_at",
    )  # fmt: skip


def _freeze_conversions(org, experiment: Experiment) -> None:
    """Record each assignment's first conversion, so later events no longer move the results.

    Read with a select then written in batches: the opportunity goal joins the
    lead's account, which an UPDATE's subquery may not.
    """
    events, moment = _conversions(org, experiment)
    first = Subquery(events.order_by(moment).values(moment)[:1])
    converted = [
        ExperimentAssignment(pk=pk, converted_at=at)
        for pk, at in ExperimentAssignment.objects.filter(experiment=experiment)
        .annotate(first=first)
        .filter(first__isnull=False)
        .values_list("pk", "first")
    ]
    ExperimentAssignment.objects.bulk_update(converted, ["converted_at"], batch_size=1000)


def experiment_results(*, org, experiment: Experiment, min_sample: int = stats.MIN_SAMPLE) -> stats.Results:
    """People and conversions per variant, compared with the control (the first variant)."""
    assignments = ExperimentAssignment.objects.filter(experiment=experiment)
    if experiment.status == ExperimentStatus.STOPPED:
        converted = Q(converted_at__isnull=False)
    else:
        events, _ = _conversions(org, experiment)
        assignments = assignments.annotate(converted=Exists(events))
        converted = Q(converted=True)
    counts = {
        row["variant"]: row
        for row in assignments.values("variant").annotate(n=Count("pk"), c=Count("pk", filter=converted))
    }
    empty = {"n": 0, "c": 0}
    arms = [
        stats.Arm(
            key=v["key"], size=counts.get(v["key"], empty)["n"], conversions=counts.get(v["key"], empty)["c"]
        )
        for v in experiment.variants
    ]
    return stats.compare(arms, min_sample=min_sample)
