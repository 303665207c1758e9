"""What the demo simulates: its sizes, reference data, channels and source mappings, funnel rates and lags."""

from dataclasses import dataclass

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
