"""The simulated year as plain data: what `build()` fills in and `seed_records()` writes."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .reference import Channel

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
