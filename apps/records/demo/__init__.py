"""The demo organisation's records: a believable year of revenue operations.

About 5,000 accounts, 20,000 leads captured over the last twelve months whose
stage histories follow the conversion rates and lags in `reference`, 1,500
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

The modules: `reference` (sizes, reference data, rates and lags), `data` (the
simulated year as plain records), `simulation` (`build()`) and `loading`
(`seed_records()`); everything is re-exported here.
"""

from .data import (
    Demo,
    DemoAccount,
    DemoCustomer,
    DemoLead,
    DemoOpportunity,
)
from .loading import (
    channel_of,
    seed_records,
    source_mappings_ensure,
)
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
    DEFAULT_COUNTS,
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
    SOURCE_MAPPINGS,
    TITLES,
    TLDS,
    TRANSITIONS,
    Channel,
    planned_counts,
)
from .simulation import (
    build,
)

__all__ = [
    "AD_CONTENT",
    "AE",
    "CHANNELS",
    "CHURN_REASONS",
    "COMPANY_HEADS",
    "COMPANY_KINDS",
    "COMPANY_TAILS",
    "COUNTRIES",
    "CSM",
    "DEFAULT_COUNTS",
    "DETOUR",
    "DIALLING",
    "DISQUALIFY_REASONS",
    "EMPLOYEE_BANDS",
    "EXITS",
    "FIRST_NAMES",
    "FREE_MAIL",
    "INDUSTRIES",
    "LAST_NAMES",
    "LOSS_REASONS",
    "RECYCLE_REASONS",
    "REENGAGE",
    "SCORES",
    "SDRS",
    "SEARCH_TERMS",
    "SEED",
    "SKIP_MQL",
    "SKIP_SQL",
    "SOURCE_MAPPINGS",
    "TITLES",
    "TLDS",
    "TRANSITIONS",
    "Channel",
    "Demo",
    "DemoAccount",
    "DemoCustomer",
    "DemoLead",
    "DemoOpportunity",
    "build",
    "channel_of",
    "planned_counts",
    "seed_records",
    "source_mappings_ensure",
]
