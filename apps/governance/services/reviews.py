"""Operating reviews: the weekly RevOps review, the monthly planning review and the quarterly
strategy review, on one record.

A review covers one period (a Monday-to-Sunday week of the organisation's calendar, a calendar
month, or a fiscal quarter). It is planned first: its agenda is proposed from the red flags, the
top leaks, the KPI nodes off track and every open action item raised in an earlier review, and can
be edited by hand. Holding it freezes what the team looked at into `snapshot`, written once: the
leading indicators of the period and of the one before, the KPI tree's statuses, the red flags and
leaks, the carried items, and for a quarterly review the strategy sections (goals, plan, channels,
KPI tree) of apps.strategy.services.reviews. Decisions and action items are recorded on it; the
digest e-mail goes to the attendees once, after it is held.

The same function (`review_numbers`) builds the snapshot when a review is held and the live
numbers a planned review shows, so both read alike.
"""

import calendar
import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.apps import apps as django_apps
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.accounts.models import Membership
from apps.accounts.services import active_member
from apps.core.errors import ServiceError
from apps.governance.models import (
    ActionItem,
    ActionStatus,
    AgendaItem,
    AgendaSource,
    Decision,
    OperatingReview,
    ReviewKind,
)
from apps.records.normalize import normalize_text
from apps.strategy.fiscal import fiscal_quarter_of, fiscal_quarter_range
from apps.strategy.models import KpiStatus

HELD = OperatingReview.Status.HELD
PLANNED = OperatingReview.Status.PLANNED
KIND_ERROR = "“{kind}” is not a review kind; use one of: " + ", ".join(ReviewKind.values) + "."


# --- What the measurement app offers (read through these names so tests can fix their answers) ------


def leading_indicators(org, *, start: datetime.date, end: datetime.date, today=None) -> list[dict]:
    from apps.measurement.dashboards.weekly import leading_indicators as indicators

    return indicators(org, start=start, end=end, today=today)


def top_leaks(org, *, start: datetime.date, end: datetime.date, limit: int = 3, fresh: bool = False) -> list:
    """The leaks of the period, kept until the next rollup or a change to a primary plan."""
    from apps.measurement.dashboards.base import cached, facts_version, primary_plans_stamp
    from apps.measurement.leaks import top_leaks as leaks

    parts = ["review-leaks", start, end, limit, primary_plans_stamp(org)]
    return cached(
        org, facts_version(org), parts, lambda: leaks(org, start=start, end=end, limit=limit), fresh=fresh
    )


def red_flags(org, *, today: datetime.date, fresh: bool = False) -> list:
    """The red flags the weekly dashboard shows too, from the cache they share."""
    from apps.measurement.redflags import red_flags_cached

    return red_flags_cached(org, today=today, fresh=fresh)


def kpi_states(org, *, today: datetime.date) -> list:
    from apps.strategy.services.kpi.tree import kpi_tree

    return kpi_tree(org=org, today=today).nodes


# --- Periods -----------------------------------------------------------------------------------------


def period_of(org, kind: str, day: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day of the week, month or fiscal quarter `day` falls in."""
    if kind == ReviewKind.WEEKLY:
        monday = day - datetime.timedelta(days=day.weekday())
        return monday, monday + datetime.timedelta(days=6)
    if kind == ReviewKind.MONTHLY:
        last = calendar.monthrange(day.year, day.month)[1]
        return day.replace(day=1), day.replace(day=last)
    if kind == ReviewKind.QUARTERLY:
        year, quarter = fiscal_quarter_of(org.fiscal_year_start_month, day)
        return fiscal_quarter_range(org.fiscal_year_start_month, year, quarter)
    raise ServiceError(
        f"“{kind}” is not a review kind; use one of: {', '.join(ReviewKind.values)}.", field="kind"
    )


def previous_period(org, kind: str, start: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The period just before the one starting on `start`."""
    return period_of(org, kind, start - datetime.timedelta(days=1))


def fiscal_quarter_for(org, review: OperatingReview) -> tuple[int, int]:
    return fiscal_quarter_of(org.fiscal_year_start_month, review.period_start)


def period_label(org, review: OperatingReview) -> str:
    """ "Week of 16 Nov 2026", "November 2026", "FY2027 Q1"."""
    if review.kind == ReviewKind.QUARTERLY:
        year, quarter = fiscal_quarter_for(org, review)
        return f"FY{year} Q{quarter}"
    if review.kind == ReviewKind.MONTHLY:
        return f"{review.period_start:%B %Y}"
    return f"Week of {review.period_start.day} {review.period_start:%b %Y}"


def _as_date(value, field: str) -> datetime.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise ServiceError(f"“{value}” is not a date (YYYY-MM-DD).", field=field) from None


# --- Creating a review and its agenda ----------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """One proposed agenda item: where it comes from, its fingerprint, what it says and where it points."""

    source: str
    key: str
    title: str
    detail: str = ""
    url: str = ""


def _fingerprint(source: str, key: str) -> str:
    key = str(key)
    return (key if key.startswith(f"{source}:") else f"{source}:{key}")[:160]


def carried_items(org, review: OperatingReview):
    """Every open action item raised in an earlier review (one whose period started before this one's)."""
    return (
        ActionItem.objects.for_org(org)
        .filter(status=ActionStatus.OPEN, review__period_start__lt=review.period_start)
        .select_related("owner__user", "review")
        .order_by("due", "id")
    )


def _carried_dict(org, item: ActionItem, today: datetime.date) -> dict:
    return {
        "id": item.pk,
        "title": item.title,
        "owner": item.owner.user.display_name if item.owner_id else "",
        "due": item.due.isoformat() if item.due else None,
        "overdue": bool(item.due and item.due < today),
        "raised_in": period_label(org, item.review),
        "review": item.review_id,
    }


def propose_agenda(org, review: OperatingReview, *, today: datetime.date) -> list[Proposal]:
    """Red flags, the top leaks of the period, KPI nodes off track, then the carried action items.

    Computed now (and the caches the pages read refreshed), since proposing is an explicit act."""
    proposals = []
    for flag in red_flags(org, today=today, fresh=True):
        proposals.append(
            Proposal(
                AgendaSource.RED_FLAG, _fingerprint("red_flag", flag.key), flag.title, flag.detail, flag.url
            )
        )
    for leak in top_leaks(org, start=review.period_start, end=review.period_end, limit=3, fresh=True):
        proposals.append(
            Proposal(AgendaSource.LEAK, _fingerprint("leak", leak.key), leak.sentence, "", leak.url)
        )
    for state in kpi_states(org, today=today):
        if state.status == KpiStatus.OFF_TRACK:
            proposals.append(
                Proposal(
                    AgendaSource.KPI,
                    f"kpi:{state.node.pk}",
                    f"{state.node.name} is off track",
                    state.reason,
                    reverse("strategy_kpi_node", args=[org.slug, state.node.pk]),
                )
            )
    for item in carried_items(org, review):
        carried = _carried_dict(org, item, today)
        due = f", due {item.due:%-d %b %Y}" if item.due else ""
        owner = carried["owner"] or "no owner"
        late = " — overdue" if carried["overdue"] else ""
        proposals.append(
            Proposal(
                AgendaSource.CARRIED,
                f"action:{item.pk}",
                item.title,
                f"Raised in {carried['raised_in']} ({owner}{due}){late}.",
                reverse("governance_review", args=[org.slug, item.review_id]),
            )
        )
    return proposals


def agenda_propose(*, org, review: OperatingReview, today: datetime.date) -> int:
    """Add the proposed items the agenda does not have yet (by fingerprint); returns how many were added."""
    _require_planned(review, "The agenda of a held review does not change.")
    present = set(review.agenda.exclude(key="").values_list("key", flat=True))
    position = _next_position(review)
    added = 0
    for proposal in propose_agenda(org, review, today=today):
        if proposal.key in present:
            continue
        present.add(proposal.key)
        AgendaItem.objects.create(
            organization=org,
            review=review,
            position=position,
            source=proposal.source,
            key=proposal.key,
            title=proposal.title[:300],
            detail=proposal.detail,
            url=proposal.url[:500],
        )
        position += 1
        added += 1
    return added


def _next_position(review: OperatingReview) -> int:
    last = review.agenda.order_by("-position").values_list("position", flat=True).first()
    return 0 if last is None else last + 1


def _require_planned(review: OperatingReview, message: str) -> None:
    if review.status != PLANNED:
        raise ServiceError(message, code="held")


@transaction.atomic
def review_create(
    *,
    org,
    kind: str,
    today: datetime.date,
    day=None,
    created_by=None,
    attendees=(),
    notes: str = "",
    propose: bool = True,
) -> OperatingReview:
    """Plan the review of the period `day` falls in (today's by default), with its proposed agenda."""
    if kind not in ReviewKind.values:
        raise ServiceError(
            f"“{kind}” is not a review kind; use one of: {', '.join(ReviewKind.values)}.", field="kind"
        )
    day = _as_date(day, "date") or today
    start, end = period_of(org, kind, day)
    if OperatingReview.objects.for_org(org).filter(kind=kind, period_start=start).exists():
        raise ServiceError(
            f"There is already a {ReviewKind(kind).label.lower()} for the period starting {start:%-d %b %Y}.",
            code="duplicate",
            field="date",
        )
    members = [active_member(org, member, field="attendees") for member in attendees or ()]
    review = OperatingReview.objects.create(
        organization=org,
        kind=kind,
        period_start=start,
        period_end=end,
        notes=(notes or "").strip(),
        created_by=created_by,
    )
    if members:
        review.attendees.set(members)
    if propose:
        agenda_propose(org=org, review=review, today=today)
    return review


def attendees_set(*, org, review: OperatingReview, attendees) -> OperatingReview:
    members = [active_member(org, member, field="attendees") for member in attendees or ()]
    review.attendees.set(members)
    return review


def review_notes(*, org, review: OperatingReview, notes: str) -> OperatingReview:
    review.notes = (notes or "").strip()
    review.save(update_fields=["notes", "updated_at"])
    return review


def agenda_add(*, org, review: OperatingReview, title, detail: str = "", url: str = "") -> AgendaItem:
    _require_planned(review, "The agenda of a held review does not change.")
    title = normalize_text(title)
    if not title:
        raise ServiceError("Say what the item is about.", field="title")
    if len(title) > 300:
        raise ServiceError("At most 300 characters.", field="title")
    return AgendaItem.objects.create(
        organization=org,
        review=review,
        position=_next_position(review),
        source=AgendaSource.MANUAL,
        title=title,
        detail=(detail or "").strip(),
        url=(url or "").strip()[:500],
    )


def agenda_remove(*, org, item: AgendaItem) -> None:
    _require_planned(item.review, "The agenda of a held review does not change.")
    item.delete()


@transaction.atomic
def agenda_move(*, org, item: AgendaItem, by: int) -> list[AgendaItem]:
    """Move an item `by` places (negative: up), renumbering the agenda 0, 1, 2, …"""
    review = item.review
    _require_planned(review, "The agenda of a held review does not change.")
    items = list(review.agenda.select_for_update().order_by("position", "id"))
    index = next(i for i, other in enumerate(items) if other.pk == item.pk)
    target = max(0, min(len(items) - 1, index + by))
    items.insert(target, items.pop(index))
    return _renumber(items)


@transaction.atomic
def agenda_reorder(*, org, review: OperatingReview, order: list) -> list[AgendaItem]:
    """Put the agenda in the order of `order` (every item's id, once)."""
    _require_planned(review, "The agenda of a held review does not change.")
    items = {item.pk: item for item in review.agenda.select_for_update()}
    try:
        ids = [int(pk) for pk in order]
    except (TypeError, ValueError):
        raise ServiceError("Give the ids of the agenda items.", field="order") from None
    if sorted(ids) != sorted(items):
        raise ServiceError("Give every item of this agenda exactly once.", field="order")
    return _renumber([items[pk] for pk in ids])


def _renumber(items: list[AgendaItem]) -> list[AgendaItem]:
    for position, item in enumerate(items):
        if item.position != position:
            item.position = position
            item.save(update_fields=["position", "updated_at"])
    return items


# --- The numbers: live while planned, frozen when held -----------------------------------------------


def _plain(value):
    """JSON-able: Decimals as floats, dates as ISO text, dataclasses through their as_dict()."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if hasattr(value, "as_dict"):
        return _plain(value.as_dict())
    return value


def _kpi_rows(org, today: datetime.date) -> list[dict]:
    from apps.strategy.services.reviews import kpi_rows

    return kpi_rows(kpi_states(org, today=today))


def review_numbers(org, review: OperatingReview, *, today: datetime.date, fresh: bool = False) -> dict:
    """What the review looks at, as JSON: the snapshot when it is held, the live view while planned.

    While planned, the leaks and red flags come from the caches the dashboards keep (they cost
    most of the page); holding the review passes `fresh` so its snapshot is computed now."""
    from apps.strategy.services import reviews as strategy_reviews

    previous_start, previous_end = previous_period(org, review.kind, review.period_start)
    numbers = {
        "taken_on": today.isoformat(),
        "start": review.period_start.isoformat(),
        "end": review.period_end.isoformat(),
        "previous_start": previous_start.isoformat(),
        "previous_end": previous_end.isoformat(),
        "indicators": leading_indicators(org, start=review.period_start, end=review.period_end, today=today),
        "indicators_previous": leading_indicators(org, start=previous_start, end=previous_end, today=today),
        "red_flags": red_flags(org, today=today, fresh=fresh),
        "leaks": top_leaks(org, start=review.period_start, end=review.period_end, limit=3, fresh=fresh),
        "carried": [_carried_dict(org, item, today) for item in carried_items(org, review)],
    }
    if review.kind == ReviewKind.QUARTERLY:
        year, quarter = fiscal_quarter_for(org, review)
        numbers.update(strategy_reviews.sections(org, year, quarter, today))
    else:
        numbers["kpi"] = _kpi_rows(org, today)
    return _plain(numbers)


@transaction.atomic
def review_hold(
    *, org, review: OperatingReview, today: datetime.date, attendees=None, notes: str | None = None
) -> OperatingReview:
    """Hold a planned review: freeze its snapshot, once, and send the digest to its attendees."""
    review = OperatingReview.objects.select_for_update().get(pk=review.pk, organization=org)
    if review.status == HELD:
        raise ServiceError(f"This review was already held on {review.held_on:%-d %b %Y}.", code="held")
    if attendees is not None:
        attendees_set(org=org, review=review, attendees=attendees)
    if notes is not None:
        review.notes = (notes or "").strip()
    review.snapshot = review_numbers(org, review, today=today, fresh=True)
    review.status = HELD
    review.held_on = today
    review.save(update_fields=["snapshot", "status", "held_on", "notes", "updated_at"])
    from apps.governance.reviews_tasks import send_review_digest

    pk = review.pk
    transaction.on_commit(lambda: send_review_digest.delay(pk), robust=True)
    return review


# --- Decisions and action items ----------------------------------------------------------------------


def decision_add(
    *, org, review: OperatingReview, text, rationale: str = "", agenda_item=None, decided_by=None
) -> Decision:
    text = normalize_text(text)
    if not text:
        raise ServiceError("Say what was decided.", field="text")
    if len(text) > 500:
        raise ServiceError("At most 500 characters.", field="text")
    item = None
    if agenda_item not in (None, ""):
        pk = agenda_item.pk if isinstance(agenda_item, AgendaItem) else agenda_item
        item = review.agenda.filter(pk=pk).first() if str(pk).isdigit() else None
        if item is None:
            raise ServiceError("No item of this review's agenda has this id.", field="agenda_item")
    return Decision.objects.create(
        organization=org,
        review=review,
        agenda_item=item,
        text=text,
        rationale=(rationale or "").strip(),
        decided_by=decided_by,
    )


@dataclass(frozen=True)
class Linkable:
    """A kind of object an action item may point at, and its page."""

    label: str
    model: str  # "app_label.ModelName"
    url_name: str
    with_pk: bool = True
    search: tuple[str, ...] = ("name",)  # the fields the picker looks in, and the first orders it


LINKABLE: dict[str, Linkable] = {
    "campaign": Linkable(
        "Campaign", "execution.Campaign", "execution_campaign", search=("name", "utm_campaign")
    ),
    "kpi_node": Linkable("KPI node", "strategy.KpiNode", "strategy_kpi_node"),
    "segment": Linkable("Segment", "strategy.Segment", "strategy_segment", search=("name", "key")),
    "goal": Linkable("Goal", "strategy.Goal", "strategy_goal", search=("metric", "note")),
    "program": Linkable("Program", "strategy.Program", "strategy_program"),
    "playbook": Linkable("Playbook", "execution.Playbook", "execution_playbook", search=("title",)),
    "routing_policy": Linkable("Routing policy", "execution.RoutingPolicy", "execution_routing", False),
    "sla_policy": Linkable("SLA policy", "execution.SlaPolicy", "execution_sla_policies", False),
    "lead": Linkable(
        "Lead", "records.Lead", "records_lead", search=("email", "first_name", "last_name", "company")
    ),
    "account": Linkable("Account", "records.Account", "records_account", search=("name", "domain")),
}
PICKER_LIMIT = 20


def link_candidates(
    org, subject_type: str, query: str = "", limit: int = PICKER_LIMIT
) -> list[tuple[int, str]]:
    """(id, label) of this organisation's objects of `subject_type` whose searched fields contain
    every word of `query`, for the action item's object picker; at most `limit` of them."""
    link = LINKABLE.get(subject_type)
    if link is None:
        raise ServiceError(
            f"“{subject_type}” cannot be linked; use one of: {', '.join(LINKABLE)}.", field="subject_type"
        )
    model = django_apps.get_model(link.model)
    found = model.objects.filter(organization=org)
    if model._meta.label == "records.Lead":
        found = found.filter(merged_into__isnull=True)
    for word in (query or "").split()[:5]:
        matches = Q()
        for field in link.search:
            matches |= Q(**{f"{field}__icontains": word})
        found = found.filter(matches)
    return [(obj.pk, str(obj)) for obj in found.order_by(link.search[0], "pk")[:limit]]


def _linked_object(org, subject_type, subject_id):
    """The object of this organisation an action item points at, or None when none is given."""
    if subject_type in (None, "") and subject_id in (None, ""):
        return None
    if subject_type not in LINKABLE:
        raise ServiceError(
            f"“{subject_type}” cannot be linked; use one of: {', '.join(LINKABLE)}.", field="subject_type"
        )
    if subject_id in (None, "") or not str(subject_id).isdigit():
        raise ServiceError("Give the id of the object concerned.", field="subject_id")
    model = django_apps.get_model(LINKABLE[subject_type].model)
    found = model.objects.filter(organization=org, pk=int(subject_id)).first()
    if found is None:
        raise ServiceError(
            f"No {LINKABLE[subject_type].label.lower()} of this organisation has this id.", field="subject_id"
        )
    return found


def _type_key(content_type_id) -> str | None:
    if content_type_id is None:
        return None
    ct = ContentType.objects.get_for_id(content_type_id)
    label = f"{ct.app_label}.{ct.model}"
    return next((key for key, link in LINKABLE.items() if link.model.lower() == label), None)


def subject_links(org, items) -> dict[int, tuple[str, str]]:
    """{action item id: (text, url)} of the objects the items point at that still exist: one query per
    kind of object, not per item."""
    wanted: dict[str, set[int]] = {}
    for item in items:
        key = _type_key(item.content_type_id)
        if key is not None and item.object_id is not None:
            wanted.setdefault(key, set()).add(item.object_id)
    found: dict[tuple[str, int], tuple[str, str]] = {}
    for key, ids in wanted.items():
        link = LINKABLE[key]
        for obj in django_apps.get_model(link.model).objects.filter(organization=org, pk__in=ids):
            try:
                url = reverse(link.url_name, args=[org.slug, obj.pk] if link.with_pk else [org.slug])
            except NoReverseMatch:
                url = ""
            found[(key, obj.pk)] = (f"{link.label}: {obj}", url)
    links = {}
    for item in items:
        hit = found.get((_type_key(item.content_type_id), item.object_id))
        if hit is not None:
            links[item.pk] = hit
    return links


def action_add(
    *,
    org,
    review: OperatingReview,
    title,
    owner,
    due,
    decision=None,
    subject_type=None,
    subject_id=None,
) -> ActionItem:
    """An action item: who does what by when, optionally following a decision and about one object."""
    title = normalize_text(title)
    if not title:
        raise ServiceError("Say what has to be done.", field="title")
    if len(title) > 300:
        raise ServiceError("At most 300 characters.", field="title")
    owner = active_member(org, owner, field="owner", required="Choose who owns it.")
    due = _as_date(due, "due")
    if due is None:
        raise ServiceError("Give a due date.", field="due")
    found_decision = None
    if decision not in (None, ""):
        pk = decision.pk if isinstance(decision, Decision) else decision
        found_decision = review.decisions.filter(pk=pk).first() if str(pk).isdigit() else None
        if found_decision is None:
            raise ServiceError("No decision of this review has this id.", field="decision")
    subject = _linked_object(org, subject_type, subject_id)
    return ActionItem.objects.create(
        organization=org,
        review=review,
        decision=found_decision,
        title=title,
        owner=owner,
        due=due,
        content_type=ContentType.objects.get_for_model(subject) if subject is not None else None,
        object_id=subject.pk if subject is not None else None,
    )


def can_update_action(membership: Membership, item: ActionItem) -> bool:
    """Operators update any action item; every member updates the ones they own."""
    return membership.can("reviews.run") or item.owner_id == membership.pk


def action_set_status(*, org, item: ActionItem, status: str, now=None) -> ActionItem:
    if status not in ActionStatus.values:
        raise ServiceError(
            f"“{status}” is not a status; use one of: {', '.join(ActionStatus.values)}.", field="status"
        )
    item.status = status
    item.completed_at = (now or timezone.now()) if status == ActionStatus.DONE else None
    item.save(update_fields=["status", "completed_at", "updated_at"])
    return item


# --- Reading across reviews --------------------------------------------------------------------------


def action_items(org, *, owner=None, status: str = "", overdue: bool = False, today: datetime.date):
    """Action items of every review, for the action items page, its CSV and the API."""
    items = ActionItem.objects.for_org(org).select_related("owner__user", "review")
    if owner not in (None, ""):
        items = items.filter(owner_id=owner)
    if status:
        items = items.filter(status=status)
    if overdue:
        items = items.filter(status=ActionStatus.OPEN, due__lt=today)
    return items.order_by("due", "id")


def overdue_items(org, *, today: datetime.date):
    return action_items(org, overdue=True, today=today)


def reviews_for(org, *, kind: str = "", status: str = ""):
    reviews = OperatingReview.objects.for_org(org)
    if kind:
        reviews = reviews.filter(kind=kind)
    if status:
        reviews = reviews.filter(status=status)
    return reviews


def action_rows(org, items, today: datetime.date) -> list[dict]:
    """Action items as the pages, the CSV and the API give them (one function, so all three agree)."""
    items = list(items)
    links = subject_links(org, items)
    return [
        {
            "id": item.pk,
            "title": item.title,
            "owner": item.owner_id,
            "owner_name": item.owner.user.display_name if item.owner_id else "",
            "due": item.due,
            "status": item.status,
            "status_label": ActionStatus(item.status).label,
            "overdue": bool(item.status == ActionStatus.OPEN and item.due and item.due < today),
            "completed_at": item.completed_at,
            "review": item.review_id,
            "review_label": f"{ReviewKind(item.review.kind).label}, {period_label(org, item.review)}",
            "decision": item.decision_id,
            "subject_type": _type_key(item.content_type_id),
            "subject_id": item.object_id,
            "subject": links[item.pk][0] if item.pk in links else "",
            "subject_url": links[item.pk][1] if item.pk in links else "",
        }
        for item in items
    ]
