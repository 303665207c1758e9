"""The demo organisation's records: a believable year of revenue operations.

About 5,000 accounts, 20,000 leads captured over the last twelve months whose
stage histories follow the conversion rates and lags below, 1,500
opportunities, 300 customers (some churned), 60,000 touchpoints, and the
imperfections the quality pages exist for: exact-e-mail duplicates (flagged,
as `lead_create` flags them), fuzzy ones (left to detect), incomplete records
and source values no mapping knows.

Two steps: `build()` simulates the year in plain Python (deterministic for a
seed, no database), and `seed_records()` binds it to an organisation's stages
and people and COPYs it in, writing what the services would have written
(normalised e-mails, channels from the source mapping, accounts matched by
domain, completeness scored with the organisation's rules). Services would
take minutes for this volume; COPY takes seconds.
"""

import itertools
import math
import random
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from apps.accounts.roles import Role

from . import quality
from .benchdata import copy_rows, reserve_ids
from .models import DuplicateCandidate, Lead, LifecycleStage, ObjectType, SourceMapping
from .normalize import normalize_email

SEED = 20260101
DEFAULT_COUNTS = {
    "accounts": 5000,
    "leads": 20000,
    "opportunities": 1500,
    "customers": 300,
    "touchpoints": 60000,
}


def planned_counts(scale: float = 1.0) -> dict[str, int]:
    """The sizes `build(scale)` produces, exactly."""
    return {name: max(1, round(count * scale)) for name, count in DEFAULT_COUNTS.items()}


# --- Reference data ---------------------------------------------------------------

INDUSTRIES = [
    ("Software", 25), ("Financial services", 10), ("Manufacturing", 10), ("Professional services", 10),
    ("Healthcare", 9), ("Retail & e-commerce", 9), ("Logistics", 6), ("Education", 5), ("Media", 5),
    ("Telecommunications", 4), ("Public sector", 4), ("Energy", 3),
]  # fmt: skip
# country, region, dialling code, company suffix, weight
COUNTRIES = [
    ("US", "North America", "1", "Inc.", 40), ("CA", "North America", "1", "Inc.", 5),
    ("GB", "EMEA", "44", "Ltd", 10), ("DE", "EMEA", "49", "GmbH", 8), ("FR", "EMEA", "33", "SAS", 6),
    ("NL", "EMEA", "31", "B.V.", 4), ("SE", "EMEA", "46", "AB", 3), ("ES", "EMEA", "34", "S.L.", 3),
    ("AU", "APAC", "61", "Pty Ltd", 4), ("IN", "APAC", "91", "Pvt Ltd", 4),
    ("SG", "APAC", "65", "Pte Ltd", 2), ("JP", "APAC", "81", "K.K.", 2),
    ("BR", "LATAM", "55", "Ltda", 3), ("MX", "LATAM", "52", "S.A.", 2),
]  # fmt: skip
DIALLING = {code: dial for code, _region, dial, _suffix, _weight in COUNTRIES}
TLDS = {"GB": ".co.uk", "DE": ".de", "FR": ".fr", "NL": ".nl", "SE": ".se", "ES": ".es", "AU": ".com.au",
        "JP": ".jp", "BR": ".com.br"}  # fmt: skip
# employees from, to, weight
EMPLOYEE_BANDS = [
    (1, 10, 8), (11, 50, 24), (51, 200, 30), (201, 1000, 22), (1001, 5000, 11), (5001, 50000, 5),
]  # fmt: skip
FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Maria",
    "Ahmed", "Fatima", "Wei", "Mei", "Hiroshi", "Yuki", "Priya", "Arjun", "Olga", "Ivan", "Lars", "Ingrid",
    "Pierre", "Camille", "Lukas", "Hannah", "Sofia", "Mateo", "Chloé", "Noah", "Emma", "Liam", "Olivia",
    "Lucas", "Amelia", "Zoë", "Raj", "Ananya", "Kwame", "Amara", "Diego", "Lucía", "Sven", "Astrid",
    "Tomás", "Inês", "Niamh", "Cian", "Aisha", "Omar", "Hana", "Kenji",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee",
    "Thompson", "White", "Harris", "Clark", "Lewis", "Walker", "Young", "Allen", "King", "Wright", "Scott",
    "Green", "Baker", "Adams", "Nelson", "Hill", "Müller", "Schmidt", "Schneider", "Fischer", "Dubois",
    "Laurent", "Bernard", "Rossi", "Russo", "Jansen", "de Vries", "Andersson", "Johansson", "Nilsson",
    "Kowalski", "Nowak", "Tanaka", "Suzuki", "Sato", "Kim", "Park", "Chen", "Wang", "Li", "Zhang", "Patel",
    "Sharma", "Singh", "Gupta", "O'Brien", "Murphy", "Kelly", "Silva", "Santos", "Oliveira", "Costa",
]  # fmt: skip
TITLES = [
    ("Marketing Operations Manager", 8), ("Demand Generation Manager", 8), ("Head of Revenue Operations", 6),
    ("RevOps Analyst", 6), ("VP Marketing", 5), ("VP Sales", 5), ("Sales Director", 5), ("CMO", 3),
    ("CRO", 2), ("Founder & CEO", 3), ("Growth Marketer", 6), ("SDR Team Lead", 4), ("Head of Sales", 4),
    ("Sales Operations Manager", 5), ("Marketing Manager", 8), ("Account Executive", 5), ("CFO", 2),
    ("Data Analyst", 4), ("Customer Success Manager", 3),
]  # fmt: skip
COMPANY_HEADS = [
    "Blue", "North", "Bright", "Silver", "Iron", "Stone", "Clear", "Swift", "True", "Deep", "Red", "Green",
    "Summit", "Harbor", "Maple", "Cedar", "Pine", "Quantum", "Vector", "Nova", "Apex", "Lumen", "Polar",
    "Atlas", "Orbit", "Pixel", "Cobalt", "Amber", "Falcon", "Granite", "Willow", "Aspen", "Beacon", "Crest",
    "Ember", "Fjord", "Helix", "Juniper", "Kestrel", "Lattice", "Meridian", "Nimbus", "Onyx", "Prism",
    "Quartz", "Ridge",
]  # fmt: skip
COMPANY_TAILS = [
    "wave", "field", "stone", "point", "bridge", "path", "gate", "works", "line", "shore", "peak", "forge",
    "light", "mark", "leaf", "wood", "bay", "port", "scale", "loop", "stack", "grid", "base", "flow",
]  # fmt: skip
COMPANY_KINDS = [
    "Analytics", "Systems", "Labs", "Logistics", "Health", "Software", "Partners", "Group", "Capital",
    "Robotics", "Media", "Foods", "Energy", "Networks", "Cloud", "Security", "Bio", "Learning", "Retail",
    "Motors",
]  # fmt: skip
FREE_MAIL = ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "proton.me"]


@dataclass(frozen=True)
class Channel:
    name: str  # the canonical channel its sources map to; "" when no mapping knows them
    volume: float  # share of new leads
    quality: float  # relative Inquiry → MQL conversion
    sources: tuple  # (source as received, utm_source, utm_medium), first is the usual one
    campaigns: tuple  # campaign stems; the quarter is prefixed
    touch: str  # the touchpoint type of an interaction in this channel


CHANNELS = [
    Channel("Paid Search", 22, 0.9, (("google", "google", "cpc"), ("bing", "bing", "cpc")),
            ("brand-search", "competitor-search", "category-search"), "ad_click"),
    Channel("Paid Social", 18, 0.6, (("linkedin", "linkedin", "paid-social"), ("LinkedIn", "li", "paid"),
                                     ("facebook", "facebook", "paid-social")),
            ("revops-guide-ads", "abm-retargeting", "lead-gen-forms"), "ad_click"),
    Channel("Email", 12, 1.1, (("newsletter", "newsletter", "email"),),
            ("monthly-newsletter", "nurture-track", "product-update"), "email_click"),
    Channel("Organic Search", 20, 1.0, (("organic", "google", "organic"),), ("blog", "seo-guides"), "visit"),
    Channel("Partner", 6, 1.7, (("partner", "partner", "referral"),), ("partner-referrals",), "referral"),
    Channel("Events", 8, 1.3, (("event", "event", "booth"), ("webinar", "webinar", "email")),
            ("revops-summit", "saas-connect", "webinar-forecasting"), "event"),
    Channel("Direct", 10, 1.4, (("direct", "", ""),), (), "visit"),
    # Review sites and a podcast nobody mapped yet: the quality page lists them.
    Channel("", 4, 1.0, (("capterra", "capterra", "review-site"), ("g2", "g2", "review-site"),
                         ("podcast", "podcast", "audio")), ("listing", "sponsorship"), "visit"),
]  # fmt: skip
# raw value (lower-case), canonical channel, source name
SOURCE_MAPPINGS = [
    ("google", "Paid Search", "Google Ads"), ("bing", "Paid Search", "Microsoft Ads"),
    ("cpc", "Paid Search", ""),
    ("linkedin", "Paid Social", "LinkedIn"), ("li", "Paid Social", "LinkedIn"),
    ("facebook", "Paid Social", "Meta"), ("paid-social", "Paid Social", ""),
    ("newsletter", "Email", "Newsletter"), ("email", "Email", ""), ("organic", "Organic Search", ""),
    ("partner", "Partner", ""), ("event", "Events", ""), ("webinar", "Events", "Webinar"),
    ("direct", "Direct", ""), ("sales", "Sales", "Sales team"),
]  # fmt: skip
SEARCH_TERMS = ["revenue operations software", "lead routing tool", "sla tracking", "marketing attribution"]
AD_CONTENT = ["hero-demo", "carousel-guide", "video-15s", "cta-trial"]

# from, to, conversion, lag median (days), lag spread (log-normal sigma)
TRANSITIONS = {
    "inquiry": ("mql", 0.35, 14.0, 0.9),
    "mql": ("sal", 0.60, 2.0, 0.8),
    "sal": ("sql", 0.50, 12.0, 0.7),
    "sql": ("opportunity", 0.70, 8.0, 0.7),
    "opportunity": ("customer", 0.25, 45.0, 0.5),
}
# Leads that do not move on: share recycled, share disqualified (the rest wait), median days until then.
EXITS = {
    "inquiry": (0.0, 0.12, 10.0),
    "mql": (0.45, 0.20, 12.0),
    "sal": (0.55, 0.25, 14.0),
    "sql": (0.50, 0.20, 21.0),
    "opportunity": (1.0, 0.0, 35.0),  # a lost deal goes back to nurture
}
SKIP_MQL = 0.06  # of MQL conversions: a demo request goes straight to sales
SKIP_SQL = 0.05  # of SQL conversions: the AE opens the opportunity on the first call
DETOUR = 0.04  # of MQL → SAL conversions: recycled once and re-engaged first
REENGAGE = 0.25  # of recycled leads come back as MQLs
RECYCLE_REASONS = [
    "Not ready: timing",
    "No response after 5 touches",
    "No budget this year",
    "Nurture: too early",
]
DISQUALIFY_REASONS = [
    "Outside the ICP: too small", "Competitor", "Student", "Spam or fake details",
    "Existing customer contact",
]  # fmt: skip
LOSS_REASONS = ["Price", "Lost to a competitor", "No decision", "Timing", "Missing feature", "Budget cut"]
# Lead score range by current stage.
SCORES = {
    "inquiry": (5, 45), "mql": (50, 85), "sal": (60, 95), "sql": (60, 95), "opportunity": (70, 100),
    "customer": (70, 100), "recycled": (20, 50), "disqualified": (0, 15),
}  # fmt: skip
CHURN_REASONS = ["Churned: budget cut", "Churned: moved to a competitor", "Churned: low adoption"]

# Owner slots, bound to the demo sales reps by seed_records: two SDRs, an AE, a CSM.
SDRS, AE, CSM = (0, 1), 2, 3


# --- The simulation (plain data) --------------------------------------------------------


@dataclass
class DemoAccount:
    name: str
    domain: str
    industry: str
    employees: int | None
    annual_revenue: Decimal | None
    country: str
    region: str
    suffix: str
    created: datetime
    weight: float
    owner: int | None = None


@dataclass
class DemoLead:
    captured: datetime
    first_name: str
    last_name: str
    email: str
    company: str
    title: str
    phone: str
    country: str
    channel: Channel
    source: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    utm_term: str
    utm_content: str
    account: int | None  # matched by e-mail domain
    works_at: int | None  # the account a rep can link a free-mail lead to
    sdr: int
    owner: int | None = None
    deal: int | None = None  # index of its new-business opportunity
    score: int = 0
    events: list = field(default_factory=list)  # (from, to, at, origin, reason, actor slot)
    reached: set = field(default_factory=set)


@dataclass
class DemoOpportunity:
    name: str
    account: int
    lead: int | None
    amount: Decimal
    type: str
    created: datetime
    owner: int
    source: str
    status: str = "open"
    close: datetime | None = None  # when it closed, or (open) when it is expected to
    loss_reason: str = ""
    stage: str = ""  # the sales stage, as the CRM names it


@dataclass
class DemoCustomer:
    account: int
    arr: Decimal
    start: datetime
    churn: datetime | None = None


@dataclass
class Demo:
    accounts: list = field(default_factory=list)
    leads: list = field(default_factory=list)
    touchpoints: list = field(default_factory=list)  # dicts
    opportunities: list = field(default_factory=list)
    customers: list = field(default_factory=list)
    duplicates: list = field(default_factory=list)  # (later lead, earlier lead) with the same e-mail

    def counts(self) -> dict[str, int]:
        return {
            "accounts": len(self.accounts),
            "leads": len(self.leads),
            "opportunities": len(self.opportunities),
            "customers": len(self.customers),
            "touchpoints": len(self.touchpoints),
            "stage_events": sum(len(lead.events) for lead in self.leads),
            "duplicates": len(self.duplicates),
        }


def channel_of(mapping: dict[str, str], *values: str) -> str:
    """services.channel_for over a plain {raw value: channel} dict."""
    for value in values:
        raw = (value or "").strip().lower()
        if raw in mapping:
            return mapping[raw]
    return ""


def _ascii(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if c.isascii() and c.isalpha()).lower()


class _Builder:
    def __init__(self, *, scale: float, seed: int, now: datetime):
        self.rng = random.Random(seed)
        self.now = now
        self.start = now - timedelta(days=365)
        self.plan = planned_counts(scale)
        self.demo = Demo()
        self.customer_of: dict[int, DemoCustomer] = {}
        volume = sum(c.volume for c in CHANNELS)
        self.mean_quality = sum(c.volume * c.quality for c in CHANNELS) / volume
        # Room kept for expansion and renewal deals; new business fills the rest at most.
        self.new_business_cap = self.plan["opportunities"] - max(1, round(0.08 * self.plan["opportunities"]))

    def lag(self, median_days: float, sigma: float) -> timedelta:
        return timedelta(days=self.rng.lognormvariate(math.log(median_days), sigma))

    def pick(self, weighted):
        """One row of a reference table whose last column is its weight."""
        return self.rng.choices(weighted, weights=[row[-1] for row in weighted])[0]

    # Accounts -------------------------------------------------------------------------

    def accounts(self):
        rng = self.rng
        names, domains = set(), set()
        while len(self.demo.accounts) < self.plan["accounts"]:
            head, tail, kind = rng.choice(COMPANY_HEADS), rng.choice(COMPANY_TAILS), rng.choice(COMPANY_KINDS)
            name = f"{head}{tail} {kind}"
            if name in names:
                continue
            country, region, _dial, suffix, _weight = self.pick(COUNTRIES)
            tld = TLDS.get(country) or rng.choice([".com", ".com", ".io"])
            domain = f"{head}{tail}".lower() + ("" if rng.random() < 0.6 else kind.lower()) + tld
            if domain in domains:
                continue
            names.add(name)
            domains.add(domain)
            lo, hi, _ = self.pick(EMPLOYEE_BANDS)
            employees = int(lo * (hi / lo) ** rng.random())
            revenue = Decimal(round(employees * rng.uniform(80_000, 300_000), -3))
            created = self.start + timedelta(
                days=rng.uniform(0, 20) if rng.random() < 0.7 else rng.uniform(0, 360)
            )
            account = DemoAccount(
                name=name,
                domain=domain if rng.random() > 0.01 else "",  # a few without a domain: nothing matches them
                industry=self.pick(INDUSTRIES)[0] if rng.random() > 0.08 else "",
                employees=employees if rng.random() > 0.10 else None,
                annual_revenue=revenue if rng.random() > 0.30 else None,
                country=country if rng.random() > 0.03 else "",
                region=region,
                suffix=suffix,
                created=created,
                weight=rng.lognormvariate(0, 1.0),  # a few accounts bring many leads, most bring a handful
            )
            self.demo.accounts.append(account)

    # Leads ----------------------------------------------------------------------------

    def capture_times(self) -> list[datetime]:
        rng, times = self.rng, []
        while len(times) < self.plan["leads"]:
            day = rng.uniform(0, 365)
            if rng.random() > (1 + 0.6 * day / 365) / 1.6:  # volume grows through the year
                continue
            hour = min(23.9, max(0.0, rng.gauss(15, 3.5)))  # office hours, mostly
            moment = self.start + timedelta(days=int(day), hours=hour, seconds=rng.uniform(0, 3600))
            if moment.weekday() >= 5 and rng.random() > 0.35:  # quieter weekends
                continue
            if moment >= self.now - timedelta(minutes=30):
                continue
            times.append(moment)
        return sorted(times)

    def person(self, captured: datetime, previous: list[DemoLead], emails) -> DemoLead:
        rng, accounts = self.rng, self.demo.accounts
        channel = self.rng.choices(CHANNELS, weights=[c.volume for c in CHANNELS])[0]
        source, utm_source, utm_medium = rng.choice(channel.sources)
        quarter = f"{captured.year}-q{(captured.month - 1) // 3 + 1}"
        campaign = f"{quarter}-{rng.choice(channel.campaigns)}" if channel.campaigns else ""
        roll = rng.random()
        original = rng.choice(previous) if previous and roll < 0.025 else None
        exact = original is not None and roll < 0.015 and bool(original.email)
        if exact:
            # The same person again, through another door: an exact duplicate.
            first, last, email = original.first_name, original.last_name, original.email
            account, works_at, company = original.account, original.works_at, original.company
        elif original is not None:
            # Same name and company from a personal address: a fuzzy duplicate, left to detect.
            first, last, company = original.first_name, original.last_name, original.company
            works_at = original.account if original.account is not None else original.works_at
            account = None
            email = f"{_ascii(first)}{_ascii(last)}{rng.randint(1, 99)}@{rng.choice(FREE_MAIL)}"
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            works_at = rng.choices(range(len(accounts)), cum_weights=self.account_weights)[0]
            employer = accounts[works_at]
            company = employer.name if rng.random() < 0.8 else f"{employer.name} {employer.suffix}"
            style = rng.random()
            local = (
                f"{_ascii(first)}.{_ascii(last)}" if style < 0.6
                else f"{_ascii(first)[0]}{_ascii(last)}" if style < 0.85 else _ascii(first)
            )  # fmt: skip
            if rng.random() < 0.12 or not employer.domain:
                domain, account = rng.choice(FREE_MAIL), None
                local += str(rng.randint(1, 999))
            else:
                domain, account = employer.domain, works_at
            email = f"{local}@{domain}"
        while not exact and email in emails:
            email = email.replace("@", str(rng.randint(2, 9)) + "@", 1)  # a namesake, not a duplicate
        home = accounts[works_at] if works_at is not None else None
        country = home.country if home and home.country else self.pick(COUNTRIES)[0]
        return DemoLead(
            captured=captured,
            first_name=first,
            last_name=last,
            email=normalize_email(email),
            company=company,
            title=self.pick(TITLES)[0] if rng.random() > 0.12 else "",
            phone=self.phone(country) if rng.random() > 0.45 else "",
            country=country if rng.random() > 0.05 else "",
            channel=channel,
            source=source,
            utm_source=utm_source,
            utm_medium=utm_medium,
            utm_campaign=campaign,
            utm_term=rng.choice(SEARCH_TERMS) if channel.name == "Paid Search" else "",
            utm_content=rng.choice(AD_CONTENT) if channel.name in ("Paid Social", "Email") else "",
            account=account,
            works_at=works_at,
            sdr=rng.choice(SDRS),
        )

    def phone(self, country: str) -> str:
        rng = self.rng
        return (
            f"+{DIALLING[country]} {rng.randint(200, 999)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        )

    # The funnel -----------------------------------------------------------------------

    def walk(self, index: int, lead: DemoLead) -> None:
        """Move a lead through the funnel until it stops, waits, or its next move is in the future."""
        rng, now = self.rng, self.now
        origin = {"Events": "import", "Direct": "ui", "Partner": "ui"}.get(lead.channel.name, "api")
        if origin == "ui" and rng.random() < 0.5:
            origin = "api"
        self.event(lead, "", "inquiry", lead.captured, origin, "", lead.sdr if origin == "ui" else None)
        stage, at = "inquiry", lead.captured
        while stage in TRANSITIONS:
            target, rate, median, sigma = TRANSITIONS[stage]
            if stage == "inquiry":
                rate *= lead.channel.quality / self.mean_quality
            moves = rng.random() < rate
            if moves and target == "opportunity":
                moves = self.can_open_opportunity(lead)
            if moves and target == "customer":
                moves = self.can_win(lead)
            if not moves:
                self.stop(lead, stage, at)
                return
            when = at + self.lag(median, sigma)
            if when >= now:
                return  # it will move, just not yet (an open deal stays open)
            stage, at = self.move(index, lead, stage, target, at, when)

    def move(self, index, lead, stage, target, at, when):
        rng = self.rng
        if stage == "inquiry" and rng.random() < SKIP_MQL:
            self.event(lead, "inquiry", "sal", when, "ui", "Demo request: straight to sales", lead.sdr)
            return "sal", when
        if stage == "mql" and rng.random() < DETOUR:
            gap = (when - at) / 3
            self.event(lead, "mql", "recycled", at + gap, "automation", "No response after 5 touches", None)
            self.event(
                lead, "recycled", "mql", at + 2 * gap, "automation", "Re-engaged: webinar attended", None
            )
        if stage == "sal" and rng.random() < SKIP_SQL and self.can_open_opportunity(lead):
            self.event(lead, "sal", "opportunity", when, "api", "Opportunity opened on the first call", None)
            self.opened(index, lead, when)
            return "opportunity", when
        reason, origin, actor = {
            "mql": ("Met the rule of MQL", "automation", None),
            "sal": ("Accepted", "ui", lead.sdr),
            "sql": ("Discovery call: need, authority and timing confirmed", "ui", lead.sdr),
            "opportunity": ("Opportunity created in the CRM", "api", None),
            "customer": ("Closed won", "api", None),
        }[target]
        self.event(lead, stage, target, when, origin, reason, actor)
        if target == "sql" and lead.account is None:
            lead.account = lead.works_at  # the rep links the lead to its company's account
        if target == "opportunity":
            self.opened(index, lead, when)
        if target == "customer":
            self.won(lead, when)
        return target, when

    def stop(self, lead, stage, at):
        """The lead does not move on: after a while it is recycled or disqualified, or it just waits."""
        rng = self.rng
        recycle, disqualify, median = EXITS[stage]
        when = at + self.lag(median, 0.6)
        if stage == "opportunity":
            deal = self.demo.opportunities[lead.deal]
            if when >= self.now:
                return
            deal.status, deal.close, deal.loss_reason = "lost", when, rng.choice(LOSS_REASONS)
            self.event(lead, stage, "recycled", when, "api", f"Closed lost: {deal.loss_reason}", None)
        elif when >= self.now:
            return
        else:
            roll = rng.random()
            actor = lead.sdr if stage != "inquiry" else None
            origin = "ui" if actor is not None and rng.random() < 0.7 else "automation"
            if roll < recycle:
                self.event(lead, stage, "recycled", when, origin, rng.choice(RECYCLE_REASONS), actor)
            elif roll < recycle + disqualify:
                self.event(lead, stage, "disqualified", when, origin, rng.choice(DISQUALIFY_REASONS), actor)
                return
            else:
                return
        back = when + self.lag(60, 0.5)
        if rng.random() < REENGAGE and back < self.now:
            self.event(
                lead, "recycled", "mql", back, "automation", "Re-engaged: visited the pricing page", None
            )

    def event(self, lead, frm, to, at, origin, reason, actor):
        lead.events.append((frm, to, at, origin, reason, actor))
        lead.reached.add(to)

    def can_open_opportunity(self, lead) -> bool:
        has_account = lead.account is not None or lead.works_at is not None
        return has_account and len(self.demo.opportunities) < self.new_business_cap

    def can_win(self, lead) -> bool:
        return lead.account in self.customer_of or len(self.customer_of) < self.plan["customers"]

    def opened(self, index, lead, when):
        if lead.account is None:
            lead.account = lead.works_at
        account = self.demo.accounts[lead.account]
        lead.deal = len(self.demo.opportunities)
        self.demo.opportunities.append(
            DemoOpportunity(
                name=f"{account.name} - new business",
                account=lead.account,
                lead=index,
                amount=self.amount(),
                type="new_business",
                created=when,
                owner=AE if self.rng.random() < 0.8 else lead.sdr,
                source=lead.source,
            )
        )

    def won(self, lead, when):
        deal = self.demo.opportunities[lead.deal]
        deal.status, deal.close = "won", when
        customer = self.customer_of.get(deal.account)
        if customer is None:
            customer = DemoCustomer(account=deal.account, arr=deal.amount, start=when)
            self.customer_of[deal.account] = customer
            self.demo.customers.append(customer)
        else:
            # Another team of a paying account: that is expansion, not a new logo.
            deal.type, deal.name = "expansion", deal.name.replace("new business", "expansion")
            customer.arr += deal.amount

    def amount(self, median: float = 25_000) -> Decimal:
        return Decimal(max(2_000, round(self.rng.lognormvariate(math.log(median), 0.75), -2)))

    # Everything else --------------------------------------------------------------------

    def finish_leads(self):
        """Owners, scores and the incomplete records, once histories are known."""
        rng = self.rng
        involved = {i for pair in self.demo.duplicates for i in pair}
        for index, lead in enumerate(self.demo.leads):
            stage = lead.events[-1][1]
            if lead.reached & {"sal", "sql", "opportunity", "customer"}:
                lead.owner = lead.sdr
                if "opportunity" in lead.reached and rng.random() < 0.7:
                    lead.owner = AE
                if stage == "customer" and rng.random() < 0.4:
                    lead.owner = CSM
            elif "mql" in lead.reached and rng.random() < 0.75:
                lead.owner = lead.sdr  # routed, not accepted yet
            lead.score = rng.randint(*SCORES[stage])
            # Records that never got far are the ones left incomplete.
            if stage in ("inquiry", "mql", "recycled", "disqualified") and index not in involved:
                roll = rng.random()
                if roll < 0.03:
                    lead.email, lead.account = "", None
                elif roll < 0.08:
                    lead.company = ""
                elif roll < 0.11:
                    lead.source = lead.utm_source = lead.utm_medium = lead.utm_campaign = ""
                    lead.utm_term = lead.utm_content = ""

    def touchpoints(self):
        rng, now, leads = self.rng, self.now, self.demo.leads
        total = self.plan["touchpoints"]
        engagement = {"inquiry": 1, "mql": 2.5, "sal": 3.5, "sql": 5, "opportunity": 7, "customer": 9}
        weights = [max(engagement.get(s, 0) for s in lead.reached) for lead in leads]
        extra = defaultdict(int)
        for index in rng.choices(range(len(leads)), weights=weights, k=max(0, total - len(leads))):
            extra[index] += 1
        mapped = [c for c in CHANNELS if c.name]
        for index, lead in enumerate(leads[:total]):
            # The conversion itself: the form, the badge scan or the referral that created the lead.
            kind = {"Events": "event", "Partner": "referral"}.get(lead.channel.name, "form")
            source = lead.source or lead.channel.sources[0][0]
            at = lead.captured - timedelta(seconds=rng.uniform(5, 600))
            self.touch(
                index,
                lead,
                lead.channel,
                source,
                lead.utm_source,
                lead.utm_medium,
                lead.utm_campaign,
                kind,
                at,
            )
            accepted = next((e[2] for e in lead.events if e[1] == "sal"), None)
            first = max(self.start, lead.captured - timedelta(days=45))
            last = min(now - timedelta(minutes=1), lead.events[-1][2] + timedelta(days=20))
            for _ in range(extra.get(index, 0)):
                at = first + (last - first) * rng.random()
                if accepted and at > accepted and rng.random() < 0.4:
                    self.touch(index, lead, None, "sales", "", "meeting", "", "meeting", at)
                    continue
                channel = lead.channel if rng.random() < 0.35 and lead.channel.name else rng.choice(mapped)
                source, utm_source, utm_medium = rng.choice(channel.sources)
                quarter = f"{at.year}-q{(at.month - 1) // 3 + 1}"
                campaign = f"{quarter}-{rng.choice(channel.campaigns)}" if channel.campaigns else ""
                self.touch(index, lead, channel, source, utm_source, utm_medium, campaign, channel.touch, at)

    def touch(self, index, lead, channel, source, utm_source, utm_medium, campaign, kind, at):
        paid_search = channel is not None and channel.name == "Paid Search"
        self.demo.touchpoints.append(
            {
                "lead": index,
                "source": source,
                "medium": utm_medium or ("meeting" if kind == "meeting" else ""),
                "utm_source": utm_source,
                "utm_medium": utm_medium,
                "utm_campaign": campaign,
                "utm_term": self.rng.choice(SEARCH_TERMS) if paid_search else "",
                "utm_content": self.rng.choice(AD_CONTENT) if kind == "ad_click" else "",
                "campaign_ref": campaign,
                "type": kind,
                "occurred_at": at,
            }
        )

    def customers_and_deals(self):
        """Self-serve customers up to the plan, churn, then expansion and renewal deals up to the plan."""
        rng, now, demo = self.rng, self.now, self.demo
        taken = set(self.customer_of)
        candidates = [i for i, a in enumerate(demo.accounts) if i not in taken]
        while len(demo.customers) < self.plan["customers"] and candidates:
            account = candidates.pop(rng.randrange(len(candidates)))
            start = self.start + timedelta(days=rng.uniform(0, 355))
            customer = DemoCustomer(account=account, arr=self.amount(8_000), start=start)  # product-led
            self.customer_of[account] = customer
            demo.customers.append(customer)
        old = [c for c in demo.customers if c.start <= now - timedelta(days=90)]
        for customer in rng.sample(old, min(len(old), round(0.10 * len(demo.customers)))):
            days = (now - customer.start).days
            customer.churn = customer.start + timedelta(days=rng.uniform(60, days - 1))
            if len(demo.opportunities) < self.plan["opportunities"]:
                demo.opportunities.append(
                    DemoOpportunity(
                        name=f"{demo.accounts[customer.account].name} - renewal",
                        account=customer.account, lead=None, amount=customer.arr, type="renewal",
                        created=max(customer.start, customer.churn - timedelta(days=45)), owner=CSM,
                        source="", status="lost", close=customer.churn, loss_reason=rng.choice(CHURN_REASONS),
                    )
                )  # fmt: skip
        active = [c for c in demo.customers if c.churn is None]
        due = [c for c in active if c.start <= now - timedelta(days=275)]
        while len(demo.opportunities) < self.plan["opportunities"] and active:
            if due and rng.random() < 0.35:
                customer = due.pop(rng.randrange(len(due)))
                close = customer.start + timedelta(days=365)  # the renewal comes up; still open
                deal = DemoOpportunity(
                    name=f"{demo.accounts[customer.account].name} - renewal", account=customer.account,
                    lead=None, amount=customer.arr, type="renewal", created=close - timedelta(days=90),
                    owner=CSM, source="",
                )  # fmt: skip
                deal.close = close
                demo.opportunities.append(deal)
                continue
            customer = rng.choice(active)
            earliest = min(customer.start + timedelta(days=30), now - timedelta(days=2))
            created = earliest + (now - timedelta(days=1) - earliest) * rng.random()
            deal = DemoOpportunity(
                name=f"{demo.accounts[customer.account].name} - expansion", account=customer.account,
                lead=None, amount=self.amount(12_000), type="expansion", created=created, owner=CSM,
                source="",
            )  # fmt: skip
            if (now - created).days > 50:
                roll = rng.random()
                deal.close = created + self.lag(30, 0.4)
                if deal.close >= now or roll >= 0.75:
                    deal.close = None
                elif roll < 0.5:
                    deal.status = "won"
                    customer.arr += deal.amount
                else:
                    deal.status, deal.loss_reason = "lost", rng.choice(LOSS_REASONS)
            demo.opportunities.append(deal)
        for deal in demo.opportunities:
            demo.accounts[deal.account].owner = AE if deal.type == "new_business" else CSM
            if deal.status != "open":
                deal.stage = "Closed Won" if deal.status == "won" else "Closed Lost"
                continue
            age = (now - deal.created).days
            deal.stage = (
                "Discovery" if age < 14 else "Demo" if age < 30 else "Proposal" if age < 60 else "Negotiation"
            )
            if deal.close is None or deal.close <= now:
                deal.close = max(deal.created + self.lag(45, 0.4), now + timedelta(days=rng.randint(7, 45)))

    def build(self) -> Demo:
        self.accounts()
        self.account_weights = list(itertools.accumulate(a.weight for a in self.demo.accounts))
        by_email: dict[str, list[int]] = defaultdict(list)
        for captured in self.capture_times():
            lead = self.person(captured, self.demo.leads[-2000:], by_email)
            index = len(self.demo.leads)
            # As lead_create does: an e-mail seen before is flagged against each earlier lead.
            self.demo.duplicates += [(index, other) for other in by_email[lead.email][:20]]
            by_email[lead.email].append(index)
            self.demo.leads.append(lead)
            self.walk(index, lead)
        self.finish_leads()
        self.touchpoints()
        self.customers_and_deals()
        return self.demo


def build(*, scale: float = 1.0, seed: int = SEED, now: datetime | None = None) -> Demo:
    """Simulate the demo organisation's year, without touching the database."""
    return _Builder(scale=scale, seed=seed, now=now or timezone.now()).build()


# --- Writing it ------------------------------------------------------------------------


def source_mappings_ensure(org) -> dict[str, str]:
    """Add the demo's source mappings the organisation lacks; return its whole {raw value: channel}."""
    existing = set(SourceMapping.objects.for_org(org).values_list("raw_value", flat=True))
    SourceMapping.objects.bulk_create(
        [
            SourceMapping(organization=org, raw_value=raw, channel=channel, source_name=name)
            for raw, channel, name in SOURCE_MAPPINGS
            if raw not in existing
        ]
    )
    return dict(SourceMapping.objects.for_org(org).values_list("raw_value", "channel"))


def _owner_slots(org) -> list[tuple[int, int] | None]:
    """(membership id, user id) for each owner slot: the demo's sales reps in order, else any."""
    from apps.accounts.demo import PEOPLE
    from apps.accounts.models import Membership

    reps = list(
        Membership.objects.for_org(org)
        .filter(role=Role.SALES_REP, is_active=True)
        .select_related("user")
        .order_by("pk")
    )
    by_email = {m.user.email: m for m in reps}
    ordered = [by_email[e] for e, _n, role, _t in PEOPLE if role == Role.SALES_REP and e in by_email] or reps
    if not ordered:
        return [None] * 4
    return [(ordered[i % len(ordered)].pk, ordered[i % len(ordered)].user_id) for i in range(4)]


def _lead_record(lead: DemoLead) -> dict:
    """The fields completeness rules may name, as quality.as_record would give them."""
    return {
        "email": lead.email, "first_name": lead.first_name, "last_name": lead.last_name,
        "title": lead.title, "phone": lead.phone, "company": lead.company, "country": lead.country,
        "source": lead.source, "utm_source": lead.utm_source, "utm_medium": lead.utm_medium,
        "utm_campaign": lead.utm_campaign, "utm_term": lead.utm_term, "utm_content": lead.utm_content,
        "score": lead.score, "owner": lead.owner, "account": lead.account, "stage": lead.events[-1][1],
    }  # fmt: skip


def seed_records(org, *, scale: float = 1.0, seed: int = SEED, now: datetime | None = None) -> dict | None:
    """Fill `org` with the demo's records; returns the counts written, or None when it has leads already.

    `scale` shrinks or grows every count (tests use 0.05). One transaction.
    """
    if Lead.objects.for_org(org).exists():
        return None
    demo = build(scale=scale, seed=seed, now=now)
    with transaction.atomic():
        mapping = source_mappings_ensure(org)
        _write(org, demo, mapping)
    return demo.counts()


def _write(org, demo: Demo, mapping: dict[str, str]) -> None:
    from .benchdata import ACCOUNT_COLUMNS, LEAD_COLUMNS

    stages = {s.key: s.pk for s in LifecycleStage.objects.for_org(org)}
    slots = _owner_slots(org)

    def member(slot):
        return None if slot is None or slots[slot] is None else slots[slot][0]

    def user(slot):
        return None if slot is None or slots[slot] is None else slots[slot][1]

    lead_rules = quality.rules_for(org=org, object_type=ObjectType.LEAD)
    account_rules = quality.rules_for(org=org, object_type=ObjectType.ACCOUNT)
    with connection.cursor() as cursor:
        first_account = reserve_ids(cursor, "records_account", len(demo.accounts))
        first_lead = reserve_ids(cursor, "records_lead", len(demo.leads))

        def account_id(index):
            return None if index is None else first_account + index

        def account_row(i, a: DemoAccount):
            record = {
                "name": a.name, "domain": a.domain, "industry": a.industry, "employees": a.employees,
                "annual_revenue": a.annual_revenue, "country": a.country, "region": a.region,
            }  # fmt: skip
            return (
                first_account + i, a.created, a.created, org.pk, None, a.name, a.domain, a.industry,
                a.employees, a.annual_revenue, a.country, a.region, member(a.owner), {},
                quality.score(record, account_rules),
            )  # fmt: skip

        copy_rows(
            cursor,
            "records_account",
            ACCOUNT_COLUMNS,
            (account_row(i, a) for i, a in enumerate(demo.accounts)),
        )

        # Tables with history triggers (accounts above, opportunities, customers) go
        # before the big ones: every history row's trigger opens a subtransaction,
        # and each of those rescans the queue of foreign-key checks deferred to
        # commit, so inserting them behind 100,000 queued checks costs seconds.
        # Deferred checks also make the order safe: leads exist by commit.
        copy_rows(
            cursor,
            "records_opportunity",
            ["created_at", "updated_at", "organization_id", "name", "account_id", "primary_contact_id",
             "amount", "currency", "stage", "status", "type", "source", "created_date", "close_date",
             "owner_id", "loss_reason", "custom"],
            (
                (d.created, d.close if d.status != "open" else d.created, org.pk, d.name,
                 account_id(d.account), None if d.lead is None else first_lead + d.lead, d.amount,
                 org.currency, d.stage, d.status, d.type, d.source, d.created.date(),
                 d.close.date() if d.close else None, member(d.owner), d.loss_reason, {})
                for d in demo.opportunities
            ),
        )  # fmt: skip
        copy_rows(
            cursor,
            "records_customer",
            ["created_at", "updated_at", "organization_id", "account_id", "arr", "start_date", "churn_date"],
            (
                (c.start, c.churn or c.start, org.pk, account_id(c.account), c.arr, c.start.date(),
                 c.churn.date() if c.churn else None)
                for c in demo.customers
            ),
        )  # fmt: skip

        def lead_row(i, lead: DemoLead):
            _frm, stage, entered, *_ = lead.events[-1]
            channel = channel_of(mapping, lead.source, lead.utm_source, lead.utm_medium)
            return (
                first_lead + i, lead.captured, entered, org.pk, None, lead.email, lead.first_name,
                lead.last_name, lead.title, lead.phone, lead.company, lead.country, lead.source, channel,
                lead.utm_source, lead.utm_medium, lead.utm_campaign, lead.utm_term, lead.utm_content, {},
                stages[stage], entered, member(lead.owner), account_id(lead.account), lead.score,
                lead.captured, quality.score(_lead_record(lead), lead_rules), None,
            )  # fmt: skip

        copy_rows(
            cursor, "records_lead", LEAD_COLUMNS, (lead_row(i, lead) for i, lead in enumerate(demo.leads))
        )
        copy_rows(
            cursor,
            "records_stageevent",
            ["created_at", "updated_at", "organization_id", "lead_id", "from_stage", "to_stage", "at",
             "actor_id", "api_key_prefix", "reason", "origin"],
            (
                (at, at, org.pk, first_lead + i, frm, to, at, user(actor), "", reason, origin)
                for i, lead in enumerate(demo.leads)
                for frm, to, at, origin, reason, actor in lead.events
            ),
        )  # fmt: skip
        copy_rows(
            cursor,
            "records_touchpoint",
            ["created_at", "updated_at", "organization_id", "lead_id", "account_id", "channel", "source",
             "medium", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "campaign_ref",
             "type", "occurred_at"],
            (
                (t["occurred_at"], t["occurred_at"], org.pk, first_lead + t["lead"],
                 account_id(demo.leads[t["lead"]].account),
                 channel_of(mapping, t["source"], t["utm_source"], t["utm_medium"]), t["source"], t["medium"],
                 t["utm_source"], t["utm_medium"], t["utm_campaign"], t["utm_term"], t["utm_content"],
                 t["campaign_ref"], t["type"], t["occurred_at"])
                for t in demo.touchpoints
            ),
        )  # fmt: skip
        copy_rows(
            cursor,
            "records_duplicatecandidate",
            ["created_at", "updated_at", "organization_id", "lead_id", "other_id", "reason", "score",
             "status"],
            (
                (demo.leads[a].captured, demo.leads[a].captured, org.pk, first_lead + a, first_lead + b,
                 DuplicateCandidate.Reason.EMAIL.value, 1.0, DuplicateCandidate.Status.OPEN.value)
                for a, b in demo.duplicates
            ),
        )  # fmt: skip
