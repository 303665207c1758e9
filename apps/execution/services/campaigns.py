"""Campaigns from intake to close: the request, its details, and every move along the workflow.

Any member may file a request (`campaign_request`); operations then triages it
(an owner in operations and a due date), builds it, runs it through QA,
approves it and takes it live (`campaign_transition`). Each move writes a
CampaignTransition, so the history, cycle time and on-time launch are read
from the transitions rather than from a status that only knows the present.

The QA gate: leaving QA for approved, and approved for live, re-runs the
automatic checks; a failing required check refuses the move unless the
approver gives an override reason, which is stored on the transition with the
checks it overrode.

A move made through the API has no member behind it; the transition records
the prefix of the API key that made it instead (`api_key`), and
`transition_by` names whoever moved it for the page and the API alike.
"""

import re
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import Membership
from apps.accounts.services import active_member
from apps.core.errors import ServiceError
from apps.execution.models import Campaign, CampaignStatus, CampaignTransition, CampaignType
from apps.measurement.metrics.catalogue import BY_KEY
from apps.records import conditions
from apps.strategy.models import Offer, Program, Segment

from . import campaign_qa

S = CampaignStatus
# Where each status may go next. Cancelling is possible until the campaign is completed;
# QA can send a campaign back to build.
MOVES: dict[str, tuple[str, ...]] = {
    S.REQUESTED: (S.TRIAGED, S.CANCELLED),
    S.TRIAGED: (S.IN_BUILD, S.CANCELLED),
    S.IN_BUILD: (S.IN_QA, S.CANCELLED),
    S.IN_QA: (S.APPROVED, S.IN_BUILD, S.CANCELLED),
    S.APPROVED: (S.LIVE, S.CANCELLED),
    S.LIVE: (S.COMPLETED, S.CANCELLED),
    S.COMPLETED: (),
    S.CANCELLED: (),
}
# Moves that pass the QA gate.
GATED = {(S.IN_QA, S.APPROVED), (S.APPROVED, S.LIVE)}
# The label of the button that makes each move.
ACTIONS = {
    S.TRIAGED: "Triage",
    S.IN_BUILD: "Start build",
    S.IN_QA: "Send to QA",
    S.APPROVED: "Approve",
    S.LIVE: "Go live",
    S.COMPLETED: "Complete",
    S.CANCELLED: "Cancel",
}
OPEN = (S.REQUESTED, S.TRIAGED, S.IN_BUILD, S.IN_QA, S.APPROVED)

# Fields the intake form and edits may set; the workflow fields (status, dates of moves) are not among them.
DETAIL_FIELDS = (
    "name",
    "type",
    "channel",
    "brief",
    "segment",
    "offer",
    "program",
    "owner",
    "start_date",
    "end_date",
    "planned_budget",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "landing_url",
    "success_metric",
    "success_target",
    "expected_audience",
)
TEXT_LIMITS = {
    "name": 200,
    "channel": 60,
    "utm_source": 255,
    "utm_medium": 255,
    "utm_campaign": 255,
    "landing_url": 500,
}


def _related(org, model, value, field: str):
    if value in (None, ""):
        return None
    pk = value.pk if isinstance(value, model) else value
    found = model.objects.for_org(org).filter(pk=pk).first() if str(pk).isdigit() else None
    if found is None:
        raise ServiceError(f"No such {model._meta.verbose_name} here.", field=field)
    return found


def _clean(org, fields: dict) -> dict:
    """Validate and normalise detail fields; raise ServiceError naming the first bad one."""
    unknown = sorted(set(fields) - set(DETAIL_FIELDS))
    if unknown:
        raise ServiceError(f"Unknown field {unknown[0]}.", field=unknown[0])
    data = dict(fields)
    for name, limit in TEXT_LIMITS.items():
        if name in data:
            data[name] = str(data[name] or "").strip()
            if len(data[name]) > limit:
                raise ServiceError(f"Keep it under {limit} characters.", field=name)
    if "name" in data and not data["name"]:
        raise ServiceError("Give the campaign a name.", field="name")
    if "type" in data and data["type"] not in CampaignType.values:
        raise ServiceError(f"Choose one of: {', '.join(CampaignType.values)}.", field="type")
    if "brief" in data:
        data["brief"] = str(data["brief"] or "").strip()
    if data.get("utm_campaign") and not re.fullmatch(r"[^\s]+", data["utm_campaign"]):
        raise ServiceError("A UTM campaign value has no spaces.", field="utm_campaign")
    for name, model in (("segment", Segment), ("offer", Offer), ("program", Program)):
        if name in data:
            data[name] = _related(org, model, data[name], name)
    if "owner" in data:
        data["owner"] = active_member(org, data["owner"])
    if "planned_budget" in data and data["planned_budget"] not in (None, ""):
        data["planned_budget"] = Decimal(str(data["planned_budget"]))
        if data["planned_budget"] < 0:
            raise ServiceError("A budget is not negative.", field="planned_budget")
    elif "planned_budget" in data:
        data["planned_budget"] = None
    if "success_metric" in data:
        data["success_metric"] = str(data["success_metric"] or "")
        if data["success_metric"] and data["success_metric"] not in BY_KEY:
            raise ServiceError("Choose a metric of the catalogue.", field="success_metric")
    if data.get("success_target") in ("",):
        data["success_target"] = None
    if "expected_audience" in data:
        audience = data["expected_audience"] or []
        try:
            conditions.validate(audience)
        except conditions.ConditionError as exc:
            raise ServiceError(str(exc), field="expected_audience") from None
        data["expected_audience"] = audience
    return data


def _check_dates(campaign: Campaign) -> None:
    if campaign.start_date and campaign.end_date and campaign.end_date < campaign.start_date:
        raise ServiceError("The campaign ends before it starts.", field="end_date")


def _save(campaign: Campaign) -> None:
    try:
        with transaction.atomic():
            campaign.save()
    except IntegrityError:
        raise ServiceError(
            "Another campaign already uses this UTM campaign value.", code="duplicate", field="utm_campaign"
        ) from None


@transaction.atomic
def campaign_request(*, org, requested_by: Membership | None, api_key=None, at=None, **fields) -> Campaign:
    """File an intake request; it starts in "requested" with a first transition.

    `api_key` is the key of a request filed through the API, recorded on that transition.
    """
    data = _clean(org, fields)
    for required in ("name", "type"):
        if not data.get(required):
            raise ServiceError("This field is required.", field=required)
    at = at or timezone.now()
    campaign = Campaign(organization=org, requested_by=requested_by, requested_at=at, **data)
    if campaign.owner is None:
        campaign.owner = requested_by
    _check_dates(campaign)
    _save(campaign)
    CampaignTransition.objects.create(
        organization=org,
        campaign=campaign,
        from_status="",
        to_status=S.REQUESTED,
        actor=requested_by,
        api_key_prefix=api_key.prefix if api_key else "",
        at=at,
        note="Intake request",
    )
    return campaign


@transaction.atomic
def campaign_update(*, org, campaign: Campaign, **fields) -> Campaign:
    """Change a campaign's details (not its status); a closed campaign is read-only."""
    if campaign.status in (S.COMPLETED, S.CANCELLED):
        raise ServiceError("A closed campaign cannot be changed.", code="closed", field="status")
    data = _clean(org, fields)
    if "name" in data and not data["name"]:
        raise ServiceError("Give the campaign a name.", field="name")
    for name, value in data.items():
        setattr(campaign, name, value)
    _check_dates(campaign)
    _save(campaign)
    return campaign


def allowed_moves(campaign: Campaign) -> tuple[str, ...]:
    return MOVES[campaign.status]


@transaction.atomic
def campaign_transition(
    *,
    org,
    campaign: Campaign,
    to_status: str,
    actor: Membership | None,
    api_key=None,
    note: str = "",
    override_reason: str = "",
    ops_owner=None,
    due_date=None,
    at=None,
) -> CampaignTransition:
    """Move `campaign` to `to_status`, or refuse with a ServiceError saying why.

    Triage needs an operations owner and a due date (given here or already set);
    cancelling needs a reason (the note). Gated moves run QA first: failing
    required checks need `override_reason`, whoever asks, a person or an API key.
    `api_key` is the key of a move made through the API (`actor` is None then).
    """
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk, organization=org)
    at = at or timezone.now()
    note, override_reason = (note or "").strip(), (override_reason or "").strip()
    if to_status not in S.values:
        raise ServiceError(f"“{to_status}” is not a campaign status.", field="to_status")
    if to_status not in MOVES[campaign.status]:
        allowed = ", ".join(S(s).label.lower() for s in MOVES[campaign.status]) or "nothing: it is closed"
        raise ServiceError(
            f"A campaign cannot go from {S(campaign.status).label.lower()} to {S(to_status).label.lower()}; "
            f"from here it can go to {allowed}.",
            code="illegal_move",
            field="to_status",
        )
    if len(note) > 500 or len(override_reason) > 500:
        raise ServiceError(
            "Keep it under 500 characters.", field="note" if len(note) > 500 else "override_reason"
        )
    if to_status == S.TRIAGED:
        _triage(org, campaign, ops_owner, due_date)
    if to_status == S.CANCELLED and not note:
        raise ServiceError("Say why the campaign is cancelled.", code="reason_required", field="note")
    failed = []
    if (campaign.status, to_status) in GATED:
        failed = [
            r.item.label
            for r in campaign_qa.qa_run(org=org, campaign=campaign, actor=actor, at=at)
            if r.item.required and not r.passed
        ]
        if failed and not override_reason:
            raise ServiceError(
                f"QA has failing required checks: {'; '.join(failed)}. Fix them, or override with a reason.",
                code="qa_failed",
                field="override_reason",
            )
    elif override_reason:
        raise ServiceError("Only approving or going live can override QA.", field="override_reason")
    transition = CampaignTransition.objects.create(
        organization=org,
        campaign=campaign,
        from_status=campaign.status,
        to_status=to_status,
        actor=actor,
        api_key_prefix=api_key.prefix if api_key else "",
        at=at,
        note=note,
        override_reason=override_reason if failed else "",
        failed_checks=failed,
    )
    campaign.status = to_status
    if to_status == S.LIVE:
        campaign.live_at = at
    if to_status in (S.COMPLETED, S.CANCELLED):
        campaign.closed_at = at
    campaign.save()
    if to_status == S.IN_QA:
        campaign_qa.qa_run(org=org, campaign=campaign, actor=actor, at=at)
    return transition


def _triage(org, campaign: Campaign, ops_owner, due_date) -> None:
    owner = (
        active_member(org, ops_owner, field="ops_owner")
        if ops_owner not in (None, "")
        else campaign.ops_owner
    )
    if owner is None:
        raise ServiceError("Name who in operations builds it.", code="required", field="ops_owner")
    due = due_date or campaign.due_date
    if due is None:
        raise ServiceError("Give the date it must be live by.", code="required", field="due_date")
    campaign.ops_owner, campaign.due_date = owner, due


def campaign_history(*, org, campaign: Campaign):
    return CampaignTransition.objects.for_org(org).filter(campaign=campaign).select_related("actor__user")


def transition_by(transition: CampaignTransition) -> str:
    """Who made a move: the member, else the API key (by its prefix).

    Neither: the system (the demo), or an API move recorded before keys were; the page has always
    said "API or system" for those, and still does.
    """
    if transition.actor_id:
        return transition.actor.user.display_name
    if transition.api_key_prefix:
        return f"API key {transition.api_key_prefix}\N{HORIZONTAL ELLIPSIS}"
    return "API or system"


@transaction.atomic
def campaign_delete(*, org, campaign: Campaign) -> None:
    """Withdraw a request nobody has triaged yet (or a cancelled one); anything further is cancelled instead,
    so its history stays."""
    if campaign.organization_id != org.pk:
        raise ServiceError("No such campaign here.", field="campaign")
    if campaign.status not in (S.REQUESTED, S.CANCELLED):
        raise ServiceError(
            "Only a request not yet triaged, or a cancelled campaign, can be deleted; cancel it instead.",
            code="not_deletable",
            field="status",
        )
    campaign.delete()
