"""The demo's campaigns: one or more in every workflow state, a UTM taxonomy and QA results.

Campaigns that launched carry the utm_campaign values the demo's leads and
touchpoints really carry (the most frequent value of each stem, e.g.
"2026-q2-webinar-forecasting"), so their pages show touches, leads, pipeline,
cost and reject rates from the rollups; campaigns still in the pipeline are
named for the next quarter. Every move goes through the workflow service with
a realistic moment: requests a few weeks before launch, triage a day or two
later, some launches after their due date. The taxonomy matches the demo's
usual tagging, so the review-site and podcast sources, the "li"/"paid" LinkedIn
tags and the blank values of half-tagged links show up as violations.

Idempotent: an organisation that already has campaigns or a taxonomy is left alone.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from apps.accounts.models import Membership
from apps.execution.models import Campaign, QaCheck, UtmTaxonomy
from apps.execution.services import campaign_qa, utm
from apps.execution.services import campaigns as services
from apps.records.models import Lead
from apps.strategy.models import Offer, Program, Segment

TAXONOMY = {
    "allowed_sources": [
        "google",
        "bing",
        "linkedin",
        "facebook",
        "newsletter",
        "partner",
        "event",
        "webinar",
    ],
    "allowed_mediums": ["cpc", "paid-social", "email", "organic", "referral", "booth"],
    "campaign_pattern": r"\d{4}-q[1-4]-[a-z0-9-]+",
    "campaign_pattern_help": "year-quarter-name in lower case, like 2026-q3-revops-summit",
    "lowercase": True,
}
# stem, name, type, channel, utm source, utm medium, the segment key it targets
STEMS = {
    "webinar-forecasting": ("Forecasting webinar", "webinar", "Events", "webinar", "email", "icp"),
    "revops-summit": ("RevOps Summit booth", "event", "Events", "event", "booth", "enterprise"),
    "brand-search": ("Brand search", "paid_search", "Paid Search", "google", "cpc", ""),
    "revops-guide-ads": ("RevOps guide ads", "paid_social", "Paid Social", "linkedin", "paid-social", "icp"),
    "monthly-newsletter": ("Monthly newsletter", "email", "Email", "newsletter", "email", ""),
    "partner-referrals": ("Partner referrals", "partner", "Partner", "partner", "referral", "mid-market"),
    "seo-guides": ("SEO guides", "content", "Organic Search", "google", "organic", ""),
    "abm-retargeting": (
        "ABM retargeting",
        "paid_social",
        "Paid Social",
        "linkedin",
        "paid-social",
        "enterprise",
    ),
    "competitor-search": ("Competitor search", "paid_search", "Paid Search", "google", "cpc", ""),
    "saas-connect": ("SaaS Connect sponsorship", "event", "Events", "event", "booth", "emea"),
    "product-update": ("Product update e-mail", "email", "Email", "newsletter", "email", ""),
    "lead-gen-forms": (
        "Lead-gen forms",
        "paid_social",
        "Paid Social",
        "linkedin",
        "paid-social",
        "mid-market",
    ),
}
# (stem, final status, days before today it was requested, days to launch, days allowed by the due date)
PLAN = [
    ("brand-search", "completed", 170, 12, 14),
    ("revops-summit", "completed", 150, 30, 21),  # late
    ("monthly-newsletter", "completed", 120, 6, 10),
    ("webinar-forecasting", "live", 60, 18, 14),  # late
    ("revops-guide-ads", "live", 45, 9, 14),
    ("partner-referrals", "live", 35, 11, 12),
    ("seo-guides", "approved", 14, None, 21),
    ("abm-retargeting", "in_qa", 12, None, 21),
    ("competitor-search", "in_build", 9, None, 18),
    ("saas-connect", "triaged", 6, None, 30),
    ("product-update", "requested", 3, None, None),
    ("lead-gen-forms", "requested", 1, None, None),
    ("competitor-search", "cancelled", 40, None, 14),
]
PATH = ["triaged", "in_build", "in_qa", "approved", "live", "completed"]
OVERRIDE = "Follow-up journey goes live the week after launch; leads wait in the nurture list until then."


def _member(org, email):
    return Membership.objects.for_org(org).filter(user__email=email).first()


def _values_in_data(org) -> dict[str, list[str]]:
    """Each stem's utm_campaign values carried by the demo's leads, most frequent first."""
    rows = (
        Lead.objects.for_org(org)
        .exclude(utm_campaign="")
        .values("utm_campaign")
        .annotate(n=Count("id"))
        .order_by("-n", "utm_campaign")
    )
    found: dict[str, list[str]] = {}
    for row in rows:
        value = row["utm_campaign"]
        stem = value.split("-", 2)[-1] if value[:4].isdigit() else ""
        found.setdefault(stem, []).append(value)
    return found


def _quarter_value(day, stem: str) -> str:
    return f"{day.year}-q{(day.month - 1) // 3 + 1}-{stem}"


def _value(stem: str, live_day, in_data: dict, today, used: set) -> str:
    """The value of the quarter it went live in when the data carries it (else the stem's most frequent);
    the next quarter's for a campaign not live yet. Never one another demo campaign already uses."""
    if live_day is not None:
        preferred = _quarter_value(live_day, stem)
        seen = [v for v in in_data.get(stem, []) if v not in used]
        value = preferred if preferred in seen else (seen[0] if seen else preferred)
    else:
        value = _quarter_value(today + timedelta(days=92), stem)
    suffix = 2
    base = value
    while value in used:
        value, suffix = f"{base}-{suffix}", suffix + 1
    return value


def seed_campaigns(org, *, now=None) -> dict | None:
    if Campaign.objects.for_org(org).exists() or UtmTaxonomy.objects.for_org(org).exists():
        return None
    now = now or timezone.now()
    tz = ZoneInfo(org.time_zone)
    today = now.astimezone(tz).date()
    marketer = _member(org, "marketer@northwind.example")
    ops = _member(org, "revops@northwind.example") or _member(org, "admin@northwind.example")
    segments = {s.key: s for s in Segment.objects.for_org(org)}
    programs = list(Program.objects.for_org(org).order_by("start", "id"))
    offers = list(Offer.objects.for_org(org).order_by("id"))
    in_data = _values_in_data(org)
    used: set[str] = set()
    counts = {"campaigns": 0, "transitions": 0}
    with transaction.atomic():
        utm.taxonomy_update(org=org, **TAXONOMY)
        checklist = campaign_qa.checklist_for(org)
        manual = next(c for c in checklist if c.kind == "manual")
        for index, (stem, status, ago, launch_days, due_days) in enumerate(PLAN):
            name, kind, channel, source, medium, segment_key = STEMS[stem]

            def moment(days_after, hour=10, _ago=ago):
                day = today - timedelta(days=_ago) + timedelta(days=days_after)
                return datetime.combine(day, time(hour), tzinfo=tz)

            requested_at = moment(0, 9)
            value = _value(stem, moment(launch_days).date() if launch_days else None, in_data, today, used)
            used.add(value)
            audience = segments[segment_key].name if segment_key in segments else "new"
            campaign = services.campaign_request(
                org=org,
                requested_by=marketer,
                at=requested_at,
                name=f"{name} ({value[:7]})",
                type=kind,
                channel=channel,
                brief=f"{name}: bring {audience} buyers to the offer and hand them to sales the same day.",
                segment=segments.get(segment_key),
                offer=offers[index % len(offers)] if offers else None,
                program=programs[index % len(programs)] if programs else None,
                utm_source=source,
                utm_medium=medium,
                utm_campaign=value,
                planned_budget=[2500, 5000, 12000][index % 3],
                success_metric="leads",
                success_target=[50, 120, 300][index % 3],
                start_date=(requested_at + timedelta(days=launch_days or 21)).date(),
            )
            counts["campaigns"] += 1
            if status == "requested":
                continue
            if status == "cancelled":
                services.campaign_transition(
                    org=org,
                    campaign=campaign,
                    to_status="cancelled",
                    actor=ops,
                    at=moment(2),
                    note="Budget moved to the summit; search terms covered by the brand campaign.",
                )
                counts["transitions"] += 1
                continue
            stop = PATH.index(status)
            launch = launch_days or 0
            steps = {
                "triaged": moment(1),
                "in_build": moment(2),
                "in_qa": moment(max(launch - 3, 3)),
                "approved": moment(max(launch - 1, 4)),
                "live": moment(launch, 8),
                "completed": moment(launch + 45),
            }
            for to in PATH[: stop + 1]:
                if to == "approved" or to == "live":
                    campaign_qa.qa_tick(org=org, campaign=campaign, check=manual, passed=True, actor=ops)
                services.campaign_transition(
                    org=org,
                    campaign=campaign,
                    to_status=to,
                    actor=ops,
                    at=steps[to],
                    ops_owner=ops.pk if ops else None,
                    due_date=requested_at.date() + timedelta(days=due_days),
                    override_reason=OVERRIDE if to in ("approved", "live") else "",
                    note="Checked the landing page and forms." if to == "in_qa" else "",
                )
                counts["transitions"] += 1
    counts["checks"] = QaCheck.objects.for_org(org).count()
    return counts
