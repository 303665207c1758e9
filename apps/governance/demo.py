"""Demo operating reviews: the last three weekly RevOps reviews, held on the Monday after each week,
with their frozen snapshots, decisions and action items (a few done, some still open and overdue, so
the carry-forward and the overdue list have something real to show)."""

import datetime

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Membership
from apps.execution.models import Campaign
from apps.governance.models import ActionStatus, OperatingReview, ReviewKind
from apps.governance.services import reviews as services
from apps.strategy.models import KpiNode

OPEN, DONE, DROPPED = ActionStatus.OPEN, ActionStatus.DONE, ActionStatus.DROPPED
ATTENDEES = ("admin", "revops", "marketer", "manager")  # the part of their demo e-mail before the @

# Per review, oldest first: (decision, why, [(action, owner, due in days after the review, status,
# what it concerns: "campaign" / "kpi_node" / None)]).
WEEKS = [
    (
        "Route paid social MQLs to the inbound SDR pool first",
        "Speed-to-lead on paid social was twice the inbound average.",
        [
            ("Change the routing rule for paid social", "revops", 2, DONE, None),
            ("Audit last month's rejected MQLs by reason", "manager", 5, OPEN, None),
        ],
    ),
    (
        "Pause the webinar follow-up until tracking is fixed",
        "Its leads arrive without UTM source, so the leak finder cannot place them.",
        [
            ("Fix the UTM parameters of the webinar campaign", "marketer", 3, OPEN, "campaign"),
            ("Name an owner for every KPI node", "admin", 4, DROPPED, "kpi_node"),
        ],
    ),
    (
        "Hold SQL targets and review the SAL → SQL drop next week",
        "One bad week is not a trend; two would be.",
        [("Break down SAL → SQL by source for the next review", "revops", 6, OPEN, "kpi_node")],
    ),
]


def seed_reviews(org) -> int | None:
    """Three held weekly reviews; None when the organisation already has a weekly review."""
    if OperatingReview.objects.for_org(org).filter(kind=ReviewKind.WEEKLY).exists():
        return None
    today = timezone.localdate()
    members = {
        m.user.email.split("@")[0]: m
        for m in Membership.objects.for_org(org)
        .filter(user__email__endswith="@northwind.example")
        .select_related("user")
    }
    chair = members.get("revops")
    subjects = {
        "campaign": Campaign.objects.for_org(org).order_by("id").first(),
        "kpi_node": KpiNode.objects.for_org(org).order_by("id").first(),
    }
    this_monday = today - datetime.timedelta(days=today.weekday())
    with transaction.atomic():
        for weeks_ago, (decision_text, why, actions) in zip((3, 2, 1), WEEKS, strict=True):
            week_start = this_monday - datetime.timedelta(weeks=weeks_ago)
            held_on = week_start + datetime.timedelta(days=7)  # the Monday after the week
            review = services.review_create(
                org=org,
                kind=ReviewKind.WEEKLY,
                day=week_start,
                today=held_on,
                created_by=chair,
                attendees=[members[name] for name in ATTENDEES if name in members],
            )
            decision = services.decision_add(
                org=org,
                review=review,
                text=decision_text,
                rationale=why,
                agenda_item=review.agenda.first(),
                decided_by=chair,
            )
            for title, owner, due_in, status, subject in actions:
                linked = subjects.get(subject) if subject else None
                item = services.action_add(
                    org=org,
                    review=review,
                    title=title,
                    owner=members[owner],
                    due=held_on + datetime.timedelta(days=due_in),
                    decision=decision,
                    subject_type=subject if linked is not None else None,
                    subject_id=linked.pk if linked is not None else None,
                )
                if status != ActionStatus.OPEN:
                    done_at = timezone.make_aware(
                        datetime.datetime.combine(held_on + datetime.timedelta(days=1), datetime.time(10))
                    )
                    services.action_set_status(org=org, item=item, status=status, now=done_at)
            services.review_hold(org=org, review=review, today=held_on)
            # The demo sends no e-mail: its digest counts as sent.
            OperatingReview.objects.filter(pk=review.pk).update(digest_sent_at=timezone.now())
    return len(WEEKS)
