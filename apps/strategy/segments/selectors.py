"""Reads for the segment pages, the API and the CSV export."""

from django.db.models import Count

from apps.records import conditions
from apps.strategy.models import Segment, SegmentMembership, SegmentObject


def segments_with_sizes(*, org):
    """Every segment, the ICP first, with `size`: its members now (one grouped query)."""
    return (
        Segment.objects.for_org(org)
        .select_related("owner__user")
        .annotate(size=Count("memberships"))
        .order_by("-is_icp", "name", "id")
    )


def members(*, org, segment):
    """The members, best fit first, with their lead or account."""
    related = "lead" if segment.object_type == SegmentObject.LEAD else "account"
    return (
        SegmentMembership.objects.for_org(org)
        .filter(segment=segment)
        .select_related(related)
        .order_by("-score", "id")
    )


def member_rows(*, org, segment):
    """CSV rows, streamed: id, name, e-mail or domain, company or industry, country, score, since."""
    memberships = SegmentMembership.objects.for_org(org).filter(segment=segment).order_by("-score", "id")
    if segment.object_type == SegmentObject.LEAD:
        columns = ["lead_id", "lead__first_name", "lead__last_name", "lead__email", "lead__company",
                   "lead__country", "score", "since"]  # fmt: skip
        for pk, first, last, email, company, country, score, since in memberships.values_list(
            *columns
        ).iterator(chunk_size=2000):
            yield pk, f"{first} {last}".strip(), email, company, country, score, since
    else:
        columns = ["account_id", "account__name", "account__domain", "account__industry", "account__country",
                   "score", "since"]  # fmt: skip
        yield from memberships.values_list(*columns).iterator(chunk_size=2000)


def described_rules(segment) -> list[dict]:
    """The rules as people read them: name, points and each condition in words."""
    return [
        {
            "name": rule["name"],
            "points": rule["points"],
            "conditions": [conditions.describe(c) for c in rule["conditions"]],
        }
        for rule in segment.rules
    ]
