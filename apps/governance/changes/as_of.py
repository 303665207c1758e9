"""The operating model as it stood at the end of a past day, subject by subject, with where each part
comes from.

For each subject (and each routing or SLA policy) the state is the document of the last change request
applied — or rolled back, which restores its `before` — up to that moment. Where no request touched it
yet, the subject's own history answers: the stage definition version in effect, the routing version
published, the SLA policies' and KPI nodes' audit history (KPI targets are not in it). The metric
settings keep no history of their own, so before any request they are unknown and the page says so.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.apps import apps

from apps.execution.models import RoutingPolicy, RoutingPolicyVersion, SlaPolicy
from apps.execution.services import policies
from apps.records.models import StageDefinitionVersion

from ..models import ChangeRequest, ChangeSubject


@dataclass
class Part:
    subject: str
    label: str
    source: str  # a sentence: where this state comes from
    document: dict | None  # the subject's export format, None when unknown
    change: ChangeRequest | None = None
    rows: list = field(default_factory=list)  # what the page lists, per subject


def end_of(org, day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=ZoneInfo(org.time_zone))


def state_from_requests(org, subject: str, target_id, at: datetime):
    """(document, request, "applied" or "rolled back", when) of the last request event before `at`."""
    events = []
    for change in ChangeRequest.objects.for_org(org).filter(
        subject=subject, target_id=target_id, applied_at__lt=at
    ):
        events.append((change.applied_at, change.proposed, change, "applied"))
        if change.rolled_back_at and change.rolled_back_at < at:
            events.append((change.rolled_back_at, change.before, change, "rolled back"))
    if not events:
        return None
    moment, document, change, how = max(events, key=lambda event: event[0])
    return document, change, how, moment


def _from_requests(org, subject: str, target_id, at: datetime):
    found = state_from_requests(org, subject, target_id, at)
    if found is None:
        return None
    document, change, how, moment = found
    verb = "applied" if how == "applied" else "rolled back (its earlier state restored)"
    return document, change, f"From change request #{change.pk}, {verb} on {moment:%Y-%m-%d %H:%M} UTC."


def _latest_events(model_label: str, org, at: datetime) -> list[dict]:
    """Each tracked row's last audited state before `at` (rows deleted by then left out)."""
    event_model = apps.get_model(model_label)
    last = {}
    rows = event_model.objects.filter(organization_id=org.pk, pgh_created_at__lt=at).order_by(
        "pgh_created_at", "pgh_id"
    )
    for event in rows:
        last[event.pgh_obj_id] = event
    return [event for event in last.values() if event.pgh_label != "delete"]


def stages_part(org, at: datetime) -> Part:
    found = _from_requests(org, ChangeSubject.STAGES, None, at)
    label = ChangeSubject.STAGES.label
    if found:
        document, change, source = found
        return Part("stages", label, source, document, change, rows=document["stages"])
    version = (
        StageDefinitionVersion.objects.for_org(org)
        .filter(effective_from__lt=at)
        .order_by("-effective_from", "-number")
        .first()
    )
    if version is None:
        return Part("stages", label, "No stage definitions were in effect yet.", None)
    since = f"{version.effective_from:%Y-%m-%d %H:%M}"
    source = f"From stage definition version {version.number}, in effect since {since} UTC."
    return Part("stages", label, source, {"stages": version.snapshot}, rows=version.snapshot)


def routing_parts(org, at: datetime) -> list[Part]:
    parts = []
    for policy in RoutingPolicy.objects.for_org(org).order_by("object_type"):
        target = None if policy.object_type == RoutingPolicy.Object.LEAD else policy.pk
        found = _from_requests(org, ChangeSubject.ROUTING, target, at) or (
            _from_requests(org, ChangeSubject.ROUTING, policy.pk, at) if target is None else None
        )
        label = f"{ChangeSubject.ROUTING.label}: {policy.name}"
        if found:
            document, change, source = found
        else:
            version = (
                RoutingPolicyVersion.objects.for_org(org)
                .filter(policy=policy, published_at__lt=at)
                .order_by("-published_at")
                .first()
            )
            if version is None:
                parts.append(Part("routing", label, "Nothing was published yet.", None))
                continue
            document, change = {"rules": version.rules, "fallback_pool": version.fallback_pool_id}, None
            source = (
                f"From routing version {version.number}, published {version.published_at:%Y-%m-%d %H:%M} UTC."
            )
        unsaved = RoutingPolicyVersion(
            organization=org,
            policy=policy,
            rules=document["rules"],
            fallback_pool_id=document["fallback_pool"],
        )
        parts.append(Part("routing", label, source, document, change, rows=policies.snapshot_text(unsaved)))
    return parts


def sla_parts(org, at: datetime) -> list[Part]:
    parts = []
    history = {event.pgh_obj_id: event for event in _latest_events("execution.SlaPolicyEvent", org, at)}
    for policy in SlaPolicy.objects.for_org(org).order_by("name"):
        found = _from_requests(org, ChangeSubject.SLA, policy.pk, at)
        if found:
            document, change, source = found
            if document == {}:
                continue  # rolled back to "did not exist yet"
        elif policy.pk in history:
            event = history[policy.pk]
            document = {
                name: getattr(event, name)
                for name in ("name", "clock", "target_minutes", "stage", "is_active")
            }
            change = None
            source = f"From the policy's audit history ({event.pgh_created_at:%Y-%m-%d %H:%M} UTC)."
        else:
            continue  # created after that date
        parts.append(Part("sla", f"{ChangeSubject.SLA.label}: {document['name']}", source, document, change))
    return parts


def metrics_part(org, at: datetime) -> Part:
    found = _from_requests(org, ChangeSubject.METRICS, None, at)
    label = ChangeSubject.METRICS.label
    if found:
        document, change, source = found
        return Part("metrics", label, source, document, change)
    return Part(
        "metrics",
        label,
        "No change request applied to the measurement settings by then, and they keep no history of "
        "their own: their value on that date is not known.",
        None,
    )


def kpi_part(org, at: datetime) -> Part:
    found = _from_requests(org, ChangeSubject.KPI, None, at)
    label = ChangeSubject.KPI.label
    if found:
        document, change, source = found
        nodes = document["nodes"]
    else:
        events = _latest_events("strategy.KpiNodeEvent", org, at)
        if not events:
            return Part("kpi", label, "The KPI tree had no nodes yet.", None)
        nodes = [{"id": e.pgh_obj_id, "parent": e.parent_id, "position": e.position, "name": e.name,
                  "metric": e.metric, "targets": []} for e in events]  # fmt: skip
        document, change = {"nodes": nodes}, None
        source = "From the KPI nodes' audit history (targets are not part of it)."
    by_id = {node["id"]: node for node in nodes}

    def path(node) -> str:
        names, seen = [node["name"]], {node["id"]}
        while node["parent"] in by_id and node["parent"] not in seen:
            node = by_id[node["parent"]]
            seen.add(node["id"])
            names.insert(0, node["name"])
        return " / ".join(names)

    rows = sorted((path(node), node.get("metric") or "", node.get("targets") or []) for node in nodes)
    return Part("kpi", label, source, document, change, rows=rows)


def operating_model_as_of(*, org, day: date) -> list[Part]:
    at = end_of(org, day)
    return [
        stages_part(org, at),
        *routing_parts(org, at),
        *sla_parts(org, at),
        metrics_part(org, at),
        kpi_part(org, at),
    ]
