"""The demo's hand-offs, experiments and playbooks.

Hand-offs, through the hand-off services at plausible past moments: leads that
moved to SAL in the last days handed to sales (most accepted, one returned,
some still waiting, a few of them past their SLA and recorded as breached by
the sweep), and recent wins handed to customer success. Experiments: a
finished subject-line test with its winner declared and what it taught, and a
running three-way offer test; assignments use the real hash buckets and the
conversions are the demo leads' own stage events and opportunities.
Playbooks for MQL and SAL work and for webinars. Skipped when the organisation
already has any of them.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Membership
from apps.execution.models import (
    Experiment,
    ExperimentAssignment,
    Handoff,
    HandoffKind,
    Notification,
    Playbook,
)
from apps.execution.services import experiments, handoffs, playbooks
from apps.records.models import Lead, LifecycleStage, Opportunity

MQL_PLAYBOOK = """# Working a new MQL
Marketing hands over an MQL when it fits the ICP **and** has engaged enough. Your first hour decides the deal.

1. Read the hand-off: company, title, country and *why it became an MQL*.
2. Check the account in the CRM: is someone already working it?
3. Call within the SLA; if no answer, send the follow-up e-mail template.
4. Accept the hand-off, or return it with the reason (missing data, not a fit).

- Never leave an MQL unowned: if you cannot take it, route it again from the queue.
- Questions: ask in `#sales-inbound`.
"""

SAL_PLAYBOOK = """# From SAL to SQL
A sales-accepted lead needs a real conversation within a week.

1. Confirm **need, authority and timing** on the first call.
2. Log every touch, so the first-touch clock stops and the timeline tells the story.
3. Move to SQL only when all three are confirmed; recycle with a reason otherwise.
"""

WEBINAR_PLAYBOOK = """# Running a webinar campaign
## Four weeks before
- Title, speakers and the [UTM builder](/) link for every channel.
- Attach the follow-up journey before QA.

## On the day
- Send the reminder two hours before; record the session.

## After
1. Send the recording within 24 hours.
2. Leads who attended and fit the ICP go straight to MQL.
"""


def seed_handoffs(org, *, now=None) -> dict | None:
    if (
        Handoff.objects.for_org(org).exists()
        or Playbook.objects.for_org(org).exists()
        or Experiment.objects.for_org(org).exists()
    ):
        return None
    now = now or timezone.now()
    with transaction.atomic():
        counts = {"playbooks": _playbooks(org)}
        counts.update(_handoffs(org, now=now))
        counts["experiments"] = _experiments(org, now=now)
    return counts


def _playbooks(org) -> int:
    stages = {s.key: s for s in LifecycleStage.objects.for_org(org)}
    made = 0
    for title, body, stage, campaign_type in (
        ("Working a new MQL", MQL_PLAYBOOK, stages.get("mql"), ""),
        ("From SAL to SQL", SAL_PLAYBOOK, stages.get("sal"), ""),
        ("Running a webinar", WEBINAR_PLAYBOOK, None, "webinar"),
    ):
        if stage is None and not campaign_type:
            continue
        playbooks.playbook_create(org=org, title=title, body=body, stage=stage, campaign_type=campaign_type)
        made += 1
    return made


def _handoffs(org, *, now) -> dict:
    marketer = Membership.objects.for_org(org).filter(user__email="marketer@northwind.example").first()
    leads = list(
        Lead.objects.for_org(org)
        .filter(stage__key__in=["sal", "sql"], owner__isnull=False, merged_into__isnull=True)
        .select_related("owner")
        .order_by("-stage_entered_at", "pk")[:12]
    )
    made = []
    for index, lead in enumerate(leads):
        # Spread over the last three days: the oldest are past any hand-off SLA.
        at = now - timedelta(hours=2 + index * 6)
        made.append(
            handoffs.handoff_create(
                org=org, kind=HandoffKind.MARKETING_TO_SALES, lead=lead, sender=marketer, strict=False, at=at
            )
        )
    for handoff in made[6:10]:
        handoffs.handoff_accept(org=org, handoff=handoff, by=handoff.receiver)
        # Answered half an hour after it arrived, as the demo tells it; the service stamped "now".
        answered = handoff.created_at + timedelta(minutes=30)
        Handoff.objects.filter(pk=handoff.pk).update(
            responded_at=answered, breached_at=None if answered <= handoff.due_at else answered
        )
    if len(made) > 10:
        handoffs.handoff_return(
            org=org,
            handoff=made[10],
            reason="No phone number and the company is a reseller: please check the fit.",
            by=made[10].receiver,
        )
    wins = (
        Opportunity.objects.for_org(org).filter(status=Opportunity.Status.WON).order_by("-close_date", "pk")
    )
    for index, opportunity in enumerate(wins.select_related("account", "primary_contact", "owner")[:4]):
        handoffs.handoff_create(
            org=org,
            kind=HandoffKind.SALES_TO_SUCCESS,
            opportunity=opportunity,
            notes="Champion is the VP Marketing; they want the kickoff before month end.",
            strict=False,
            at=now - timedelta(hours=5 + index * 20),
        )
    handoffs.handoffs_breach_due(now=now)
    # These hand-offs are history replayed in one go: their alerts would bury the demo
    # users' bells under two dozen past events, so the inbox page is where they show.
    Notification.objects.for_org(org).filter(kind__startswith="handoff.").delete()
    made = Handoff.objects.for_org(org)
    return {"handoffs": made.count(), "handoffs_breached": made.filter(breached_at__isnull=False).count()}


def _assign_all(experiment: Experiment, leads) -> None:
    ExperimentAssignment.objects.bulk_create(
        [
            ExperimentAssignment(
                organization_id=experiment.organization_id,
                experiment=experiment,
                lead=lead,
                variant=experiments.pick(experiment, lead.pk),
                assigned_at=lead.captured_at,
            )
            for lead in leads
        ],
        ignore_conflicts=True,
    )


def _experiments(org, *, now) -> int:
    owner = Membership.objects.for_org(org).filter(user__email="marketer@northwind.example").first()
    leads = Lead.objects.for_org(org).filter(merged_into__isnull=True).only("pk", "captured_at")
    finished = experiments.experiment_create(
        org=org,
        name="Webinar invite: question vs benefit subject line",
        hypothesis="A question in the subject line gets more invitees to an SQL conversation.",
        variants=[
            {"key": "benefit", "name": "Benefit subject", "weight": 1, "subject": "Cut your CAC by a third"},
            {"key": "question", "name": "Question subject", "weight": 1, "subject": "Is your CAC too high?"},
        ],
        goal={"type": "stage_reached", "stage": "sql"},
        owner=owner,
    )
    experiments.experiment_start(org=org, experiment=finished)
    window = list(leads.filter(captured_at__lt=now - timedelta(days=90)).order_by("-captured_at")[:1500])
    _assign_all(finished, window)
    results = experiments.experiment_results(org=org, experiment=finished)
    best = max(results.arms, key=lambda r: r.arm.rate or 0).arm.key
    experiments.experiment_stop(
        org=org,
        experiment=finished,
        winner=best,
        learned=(
            "The winning subject line is now the default in the webinar journey. The difference was "
            "small next to the sample: test the offer itself next, not the wording."
        ),
    )
    started = window[-1].captured_at if window else now - timedelta(days=120)
    Experiment.objects.filter(pk=finished.pk).update(started_at=started, stopped_at=now - timedelta(days=90))

    running = experiments.experiment_create(
        org=org,
        name="Nurture offer: demo, assessment or benchmark report",
        hypothesis="An assessment converts mid-market nurture leads to opportunities better than a demo.",
        variants=[
            {"key": "demo", "name": "Book a demo", "weight": 2},
            {"key": "assessment", "name": "Free RevOps assessment", "weight": 1},
            {"key": "benchmark", "name": "Benchmark report", "weight": 1},
        ],
        goal={"type": "opportunity_created"},
        owner=owner,
    )
    experiments.experiment_start(org=org, experiment=running)
    recent = list(leads.filter(captured_at__gte=now - timedelta(days=45)).order_by("captured_at")[:900])
    _assign_all(running, recent)
    if recent:
        Experiment.objects.filter(pk=running.pk).update(started_at=recent[0].captured_at)
    return 2
