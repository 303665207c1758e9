"""`build()`: the demo's year simulated in plain Python (deterministic for a seed, no database).

Accounts first, then leads captured through the year, each walked through
the funnel; then owners, scores and gaps, touchpoints, and customers with
their expansion and renewal deals.
"""

import itertools
import math
import random
import unicodedata
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from ..normalize import normalize_email
from .data import Demo, DemoAccount, DemoCustomer, DemoLead, DemoOpportunity
from .reference import (
    AD_CONTENT,
    AE,
    CHANNELS,
    CHURN_REASONS,
    COMPANY_HEADS,
    COMPANY_KINDS,
    COMPANY_TAILS,
    COUNTRIES,
    CSM,
    DETOUR,
    DIALLING,
    DISQUALIFY_REASONS,
    EMPLOYEE_BANDS,
    EXITS,
    FIRST_NAMES,
    FREE_MAIL,
    INDUSTRIES,
    LAST_NAMES,
    LOSS_REASONS,
    RECYCLE_REASONS,
    REENGAGE,
    SCORES,
    SDRS,
    SEARCH_TERMS,
    SEED,
    SKIP_MQL,
    SKIP_SQL,
    TITLES,
    TLDS,
    TRANSITIONS,
    planned_counts,
)

# A leak for the leak finder to find: Paid Social's SAL → SQL conversion falls to 40 % of its usual rate
# for the leads accepted in the last LEAK_DAYS days (a new lead form let poorer leads through).
LEAK_CHANNEL, LEAK_STAGE, LEAK_DAYS, LEAK_FACTOR = "Paid Social", "sal", 75, 0.4


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
            if stage == LEAK_STAGE and lead.channel.name == LEAK_CHANNEL and now - at < timedelta(LEAK_DAYS):
                rate *= LEAK_FACTOR
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
