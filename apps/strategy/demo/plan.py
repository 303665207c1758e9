"""Demo positioning, offers and marketing plan: what Northwind says to each segment, and its programs.

Segments are looked up by key ("icp", "enterprise", "mid-market", "emea") and
skipped when missing, so the plan seeds with or without them. Budget lines use
the demo's real channels (apps/records/demo/reference.py, apps/measurement/demo.py).
"""

import datetime
from decimal import Decimal

from django.utils import timezone

from apps.accounts.models import Membership

from ..fiscal import fiscal_quarter_of, fiscal_quarter_range, shift_quarter
from ..models import Goal, Offer, Positioning, Program, Segment
from ..services import positioning as positioning_services
from ..services import programs as program_services

# segment key, owner's e-mail, value propositions, messaging pillars, proof points
POSITIONING = [
    (
        "icp",
        "marketer@northwind.example",
        [
            "Every lead routed to the right rep in under five minutes",
            "One funnel definition, agreed by sales and marketing",
        ],
        ["Speed to lead", "A single source of revenue truth", "Plans wired to the numbers"],
        [
            "Acme cut speed to lead from 9 hours to 4 minutes",
            "SLA compliance up from 61 % to 94 % in one quarter",
        ],
    ),
    (
        "enterprise",
        "admin@northwind.example",
        ["Governance and audit trails that pass a security review", "Territories and routing across regions"],
        ["Control", "Compliance", "Scale"],
        ["SSO and MFA enforced per organisation", "Every definition change versioned and approved"],
    ),
    (
        "mid-market",
        "marketer@northwind.example",
        ["Live in a week, without a RevOps team of five", "Attribution your CFO will sign off"],
        ["Time to value", "Clarity on spend"],
        ["Median set-up of 6 days across customers", "Cost per opportunity down 18 % after reallocation"],
    ),
    (
        "emea",
        "manager@northwind.example",
        ["Data stays in the EU, hosted by you", "Fiscal calendars and currencies as finance runs them"],
        ["Data residency", "Local finance fit"],
        ["Self-hosted by three EU banks", "GDPR erasure handled end to end"],
    ),
]

# name, type, segment key ("" for every segment), owner's e-mail, description
OFFERS = [
    ("Live routing demo", "demo", "icp", "marketer@northwind.example",
     "A 30-minute demo on the prospect's own funnel."),
    ("14-day trial", "trial", "mid-market", "marketer@northwind.example",
     "A sandbox loaded with the prospect's CSV."),
    ("Funnel health assessment", "assessment", "enterprise", "admin@northwind.example",
     "Two weeks with our RevOps team; a written report on leaks, SLAs and attribution."),
    ("RevOps benchmark report", "content", "", "marketer@northwind.example",
     "Speed to lead and conversion by industry."),
    ("RevOps Summit roundtable", "event", "enterprise", "manager@northwind.example",
     "An invitation-only dinner for revenue leaders."),
    ("EMEA data-residency webinar", "event", "emea", "manager@northwind.example",
     "Hosting, GDPR and fiscal calendars."),
]  # fmt: skip

# name, owner's e-mail, quarter (0 this, 1 next), start day offset, length in days, status, segment key,
# offer name, goal metric, depends on (names), objective, rationale, budget lines, targets
PROGRAMS = [
    ("Benchmark report launch", "marketer@northwind.example", 0, 0, 45, "active", "",
     "RevOps benchmark report", "pipeline_created", [],
     "Publish the benchmark report and turn it into a lead magnet.",
     "Organic search converts best among unpaid channels; a report gives it something to rank for.",
     [("Organic Search", "Writing and design", "6000"), ("Paid Social", "LinkedIn promotion", "9000")],
     [("leads", "1200"), ("pipeline_created", "400000")]),
    ("ICP demo push", "marketer@northwind.example", 0, 14, 60, "active", "icp", "Live routing demo",
     "pipeline_created", [],
     "Book demos with ICP accounts through search and retargeting.",
     "The ICP converts to opportunity at twice the rate of everyone else.",
     [("Paid Search", "Competitor and category terms", "24000"), ("Paid Social", "ABM retargeting", "12000")],
     [("opportunities_created", "60"), ("win_rate", "25")]),
    ("Enterprise assessment offer", "admin@northwind.example", 0, 30, 55, "planned", "enterprise",
     "Funnel health assessment", "new_bookings", ["Benchmark report launch"],
     "Sell paid assessments that lead to enterprise deals.",
     "Enterprise deals stall without a champion; an assessment creates one.",
     [("Partner", "Partner-led workshops", "8000"), ("Email", "Nurture sequence", "1500")],
     [("new_bookings", "250000")]),
    ("RevOps Summit", "manager@northwind.example", 1, 10, 20, "planned", "enterprise",
     "RevOps Summit roundtable", "new_logos", ["Enterprise assessment offer"],
     "Meet 40 enterprise revenue leaders and host the roundtable.",
     "Events have the best MQL conversion of the paid channels.",
     [("Events", "Booth and sponsorship", "18000"), ("Events", "Roundtable dinner", "6000")],
     [("new_logos", "5")]),
    ("Mid-market trial funnel", "marketer@northwind.example", 1, 0, 75, "planned", "mid-market",
     "14-day trial", "pipeline_created", ["ICP demo push"],
     "Move mid-market prospects from trial to paid within 30 days.",
     "Trials shorten the sales cycle where a demo is too heavy.",
     [("Paid Search", "Trial landing pages", "15000"), ("Email", "Trial onboarding emails", "1000")],
     [("leads", "900"), ("cost_per_lead", "40")]),
    ("EMEA residency webinars", "manager@northwind.example", 1, 20, 50, "planned", "emea",
     "EMEA data-residency webinar", "", [],
     "Open EMEA pipeline with a webinar series on data residency.",
     "EMEA buyers ask about hosting first; answer before sales is asked.",
     [("Events", "Webinar platform and speakers", "4000"), ("Paid Social", "EMEA promotion", "5000")],
     [("leads", "300")]),
]  # fmt: skip


def _members(org) -> dict[str, Membership]:
    return {m.user.email: m for m in Membership.objects.for_org(org).select_related("user")}


def seed_positioning(org) -> int | None:
    """Positioning for the demo segments that exist, and the offers. None when offers already exist."""
    if Offer.objects.for_org(org).exists() or Positioning.objects.for_org(org).exists():
        return None
    members = _members(org)
    segments = {s.key: s for s in Segment.objects.for_org(org)}
    made = 0
    for key, email, propositions, pillars, proofs in POSITIONING:
        if key not in segments:
            continue
        positioning = positioning_services.positioning_save(
            org=org,
            segment=segments[key],
            value_propositions=propositions[:1],
            messaging_pillars=pillars,
            proof_points=proofs,
            owner=members.get(email),
        )
        # A second version, so the history page has a change to show.
        positioning_services.positioning_save(
            org=org, segment=positioning.segment, value_propositions=propositions
        )
        made += 1
    for name, kind, key, email, description in OFFERS:
        positioning_services.offer_create(
            org=org,
            name=name,
            type=kind,
            description=description,
            segment=segments.get(key),
            owner=members.get(email),
        )
        made += 1
    return made


def seed_programs(org) -> int | None:
    """About six programs over this fiscal quarter and the next. None when programs already exist."""
    if Program.objects.for_org(org).exists():
        return None
    members = _members(org)
    segments = {s.key: s for s in Segment.objects.for_org(org)}
    offers = {o.name: o for o in Offer.objects.for_org(org)}
    year, quarter = fiscal_quarter_of(org.fiscal_year_start_month, timezone.localdate())
    goals = {
        goal.metric: goal
        for goal in Goal.objects.for_org(org).filter(fiscal_year=year, quarter=quarter, team__isnull=True)
    }
    starts = [
        fiscal_quarter_range(org.fiscal_year_start_month, *shift_quarter(year, quarter, shift))[0]
        for shift in (0, 1)
    ]
    made: dict[str, Program] = {}
    for row in PROGRAMS:
        (
            name,
            email,
            which,
            offset,
            days,
            status,
            key,
            offer,
            metric,
            after,
            objective,
            rationale,
            lines,
            targets,
        ) = row
        start = starts[which] + datetime.timedelta(days=offset)
        made[name] = program_services.program_create(
            org=org,
            name=name,
            objective=objective,
            rationale=rationale,
            owner=members.get(email),
            start=start,
            end=start + datetime.timedelta(days=days - 1),
            status=status,
            segment=segments.get(key),
            offer=offers.get(offer),
            goal=goals.get(metric),
            depends_on=[made[dependency] for dependency in after],
            budget_lines=[
                {"channel": channel, "description": text, "amount": Decimal(amount)}
                for channel, text, amount in lines
            ],
            targets=[{"metric": key_, "target": Decimal(value)} for key_, value in targets],
        )
    return len(made)
