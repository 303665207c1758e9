"""Demo ICP and segments, over the demo's real values (apps.records.demo.reference):
industries, employee bands, countries and regions. Other demo modules look them up by key."""

from apps.accounts.models import Membership
from apps.records.demo.reference import COUNTRIES

from ..models import Segment
from ..services import segments as services

EMEA = sorted(code for code, region, *_ in COUNTRIES if region == "EMEA")
CORE_MARKETS = ["US", "CA", "GB", "DE", "FR", "NL"]
TARGET_INDUSTRIES = ["Software", "Financial services", "Professional services"]


def _rule(name, points, *conditions):
    """A rule from (field, op, value) triples; value None for the valueless operators."""
    return {
        "name": name,
        "points": points,
        "conditions": [
            {"field": field, "op": op} | ({} if value is None else {"value": value})
            for field, op, value in conditions
        ],
    }


ICP_RULES = [
    _rule("Target industry", 30, ("account.industry", "in", TARGET_INDUSTRIES)),
    _rule(
        "200 to 5,000 employees", 30, ("account.employees", "gte", 200), ("account.employees", "lte", 5000)
    ),
    _rule("Core market", 20, ("country", "in", CORE_MARKETS)),
    _rule("Engaged in the last 90 days", 20, ("touches_90d", "gte", 2)),
    _rule("No matched account", -30, ("account.name", "is_empty", None)),
]

# key, name, owner's e-mail, is ICP, threshold, description, rules
SEGMENTS = [
    ("icp", "Ideal customer profile", "marketer@northwind.example", True, 60,
     "Mid-sized and large software, financial and professional-services firms in our core markets, "
     "engaged lately.", ICP_RULES),
    ("enterprise", "Enterprise", "manager@northwind.example", False, 1,
     "Leads of accounts with 1,000 employees or more.",
     [_rule("1,000+ employees", 1, ("account.employees", "gte", 1000))]),
    ("mid-market", "Mid-market", "manager@northwind.example", False, 1,
     "Leads of accounts with 200 to 999 employees.",
     [_rule("200 to 999 employees", 1, ("account.employees", "gte", 200),
            ("account.employees", "lte", 999))]),
    ("emea", "EMEA", "admin@northwind.example", False, 1,
     "Leads in Europe, the Middle East and Africa, by their own country or their account's region.",
     [_rule("EMEA country", 1, ("country", "in", EMEA)),
      _rule("EMEA account", 1, ("account.region", "equals", "EMEA"))]),
]  # fmt: skip


def seed_segments(org) -> str | None:
    """The ICP and three segments, their members computed. None when the organisation has segments."""
    if Segment.objects.for_org(org).exists():
        return None
    owners = {m.user.email: m for m in Membership.objects.for_org(org).select_related("user")}
    made = []
    for key, name, owner, is_icp, threshold, description, rules in SEGMENTS:
        segment = services.segment_create(
            org=org, key=key, name=name, owner=owners.get(owner), is_icp=is_icp, threshold=threshold,
            description=description, rules=rules,
        )  # fmt: skip
        made.append(f"{segment.name} {segment.member_count:,}")
    return ", ".join(made)
