"""Playbooks: Markdown runbooks attached to a lifecycle stage or a campaign type,
shown where that work happens (the lead page for its stage, campaigns of the type)."""

from django.db import transaction

from apps.core.errors import ServiceError
from apps.execution.models import CampaignType, Playbook
from apps.records.models import LifecycleStage

MAX_BODY = 50_000


def _clean(org, *, title: str, body: str, stage, campaign_type: str) -> dict:
    title, body = (title or "").strip(), (body or "").strip()
    if not title:
        raise ServiceError("Give the playbook a title.", field="title")
    if not body:
        raise ServiceError("Write the runbook: the steps, in Markdown.", field="body")
    if len(body) > MAX_BODY:
        raise ServiceError(f"Keep it under {MAX_BODY:,} characters.", field="body")
    if stage is not None and stage.organization_id != org.pk:
        raise ServiceError("No such stage here.", field="stage")
    campaign_type = campaign_type or ""
    if campaign_type and campaign_type not in CampaignType.values:
        raise ServiceError(
            f"The campaign type is one of: {', '.join(CampaignType.values)}.", field="campaign_type"
        )
    if stage is None and not campaign_type:
        raise ServiceError(
            "Attach it to a stage or a campaign type, so it shows where the work is.", field="stage"
        )
    return {"title": title[:200], "body": body, "stage": stage, "campaign_type": campaign_type}


@transaction.atomic
def playbook_create(*, org, title: str, body: str, stage=None, campaign_type: str = "") -> Playbook:
    fields = _clean(org, title=title, body=body, stage=stage, campaign_type=campaign_type)
    return Playbook.objects.create(organization=org, **fields)


@transaction.atomic
def playbook_update(*, org, playbook: Playbook, **fields) -> Playbook:
    unknown = set(fields) - {"title", "body", "stage", "campaign_type"}
    if unknown:
        raise ServiceError(f"Unknown field {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    current = {
        "title": playbook.title,
        "body": playbook.body,
        "stage": playbook.stage,
        "campaign_type": playbook.campaign_type,
    }
    for key, value in _clean(org, **{**current, **fields}).items():
        setattr(playbook, key, value)
    playbook.save()
    return playbook


@transaction.atomic
def playbook_delete(*, org, playbook: Playbook) -> None:
    playbook.delete()


def playbooks_for_stage(*, org, stage: LifecycleStage):
    return Playbook.objects.for_org(org).filter(stage=stage)


def playbooks_for_campaign_type(*, org, campaign_type: str):
    return Playbook.objects.for_org(org).filter(campaign_type=campaign_type)
