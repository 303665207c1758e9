"""Which column feeds which field: the field catalogue and the automatic mapping.

Headers are compared after `header_key` (case, spaces and punctuation
ignored), so "First Name", "first_name", "FirstName" and "FIRST-NAME" are one
header. The alias table knows the export headers of HubSpot (contacts and
companies) and Salesforce (leads, contacts, accounts; report and Data Loader
exports); custom fields match by key or label. Each field is fed by at most
one column: when several headers fit, the best-ranked alias wins, then the
leftmost column. Columns that feed nothing are shown as "not imported".
"""

import re
from dataclasses import dataclass

from apps.records.models import Account, CustomField, Lead

from .models import ObjectType


@dataclass(frozen=True)
class Field:
    name: str  # our field, or custom.<key>
    label: str
    kind: str  # text, email, country, int, decimal, datetime, external_id, stage, domain, custom
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None


def _max(model, name):
    return model._meta.get_field(name).max_length


LEAD_FIELDS = [
    Field("email", "E-mail", "email", _max(Lead, "email")),
    Field("first_name", "First name", "text", _max(Lead, "first_name")),
    Field("last_name", "Last name", "text", _max(Lead, "last_name")),
    Field("title", "Job title", "text", _max(Lead, "title")),
    Field("phone", "Phone", "text", _max(Lead, "phone")),
    Field("company", "Company", "text", _max(Lead, "company")),
    Field("country", "Country", "country"),
    Field("source", "Source", "text", _max(Lead, "source")),
    Field("utm_source", "UTM source", "text", _max(Lead, "utm_source")),
    Field("utm_medium", "UTM medium", "text", _max(Lead, "utm_medium")),
    Field("utm_campaign", "UTM campaign", "text", _max(Lead, "utm_campaign")),
    Field("utm_term", "UTM term", "text", _max(Lead, "utm_term")),
    Field("utm_content", "UTM content", "text", _max(Lead, "utm_content")),
    Field("score", "Score", "int", minimum=-100000, maximum=100000),
    Field("captured_at", "Captured at", "datetime"),
    Field("external_id", "External ID", "external_id", _max(Lead, "external_id")),
    Field("stage", "Lifecycle stage", "stage"),
]

ACCOUNT_FIELDS = [
    Field("name", "Name", "text", _max(Account, "name")),
    Field("domain", "Domain (from the website)", "domain", _max(Account, "domain")),
    Field("industry", "Industry", "text", _max(Account, "industry")),
    Field("employees", "Employees", "int", minimum=0, maximum=2147483647),
    Field("annual_revenue", "Annual revenue", "decimal"),
    Field("country", "Country", "country"),
    Field("region", "Region", "text", _max(Account, "region")),
    Field("external_id", "External ID", "external_id", _max(Account, "external_id")),
]

STANDARD_FIELDS = {ObjectType.LEAD: LEAD_FIELDS, ObjectType.ACCOUNT: ACCOUNT_FIELDS}

# field -> header aliases, best first (rank = position). Both HubSpot's and
# Salesforce's labels are here, plus their API names, which Data Loader and
# most CRM exports use as headers.
_LEAD_ALIASES = {
    "email": ["Email", "E-mail", "Email Address", "Work Email", "Business Email", "Contact Email", "Mail"],
    "first_name": ["First Name", "FirstName", "Given Name", "Forename", "First"],
    "last_name": ["Last Name", "LastName", "Surname", "Family Name", "Last"],
    "title": ["Job Title", "Title", "Position", "Designation"],
    "phone": ["Phone Number", "Phone", "Telephone", "Work Phone", "Business Phone", "Mobile Phone Number",
              "Mobile Phone", "Mobile", "MobilePhone"],
    "company": ["Company Name", "Company", "Company / Account", "Account Name", "Organization",
                "Organisation", "Employer", "Associated Company"],
    "country": ["Country/Region", "Country", "Country Code", "Mailing Country", "MailingCountry",
                "IP Country"],
    "source": ["Original Source", "Lead Source", "LeadSource", "Source", "Original Source Type"],
    "utm_source": ["UTM Source", "utm_source"],
    "utm_medium": ["UTM Medium", "utm_medium"],
    "utm_campaign": ["UTM Campaign", "utm_campaign", "Campaign"],
    "utm_term": ["UTM Term", "utm_term"],
    "utm_content": ["UTM Content", "utm_content"],
    "score": ["Score", "Lead Score", "HubSpot Score"],
    "captured_at": ["Create Date", "Created Date", "CreatedDate", "Created At", "Date Created", "Captured At",
                    "Became a Lead Date"],
    "external_id": ["Record ID", "Lead ID", "Contact ID", "Id", "External ID", "ExternalId", "Contact Id",
                    "Hubspot ID"],
    "stage": ["Lifecycle Stage", "Lifecycle stage", "Stage", "Lead Stage", "Funnel Stage"],
}  # fmt: skip

_ACCOUNT_ALIASES = {
    "name": ["Account Name", "Company Name", "Name", "Company", "Organization", "Organisation"],
    "domain": ["Website", "Company Domain Name", "Domain", "Website URL", "Web Site", "URL"],
    "industry": ["Industry"],
    "employees": ["Employees", "Number of Employees", "NumberOfEmployees", "No. of Employees",
                  "Employee Count", "Headcount"],
    "annual_revenue": ["Annual Revenue", "AnnualRevenue", "Revenue"],
    "country": ["Billing Country", "BillingCountry", "Country/Region", "Country", "Country Code",
                "Shipping Country"],
    "region": ["Region", "Sales Region", "State/Region", "Billing State/Province", "BillingState",
               "State"],
    "external_id": ["Account ID", "Record ID", "Id", "External ID", "ExternalId", "Company ID"],
}  # fmt: skip

_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def header_key(header: str) -> str:
    return _NOT_ALNUM.sub("", header.casefold())


def _alias_table(aliases: dict[str, list[str]]) -> dict[str, tuple[str, int]]:
    table: dict[str, tuple[str, int]] = {}
    for field, names in aliases.items():
        for rank, name in enumerate(names):
            table.setdefault(header_key(name), (field, rank))
    return table


ALIASES = {ObjectType.LEAD: _alias_table(_LEAD_ALIASES), ObjectType.ACCOUNT: _alias_table(_ACCOUNT_ALIASES)}


def custom_fields(*, org, object_type: str) -> list[CustomField]:
    return list(CustomField.objects.for_org(org).filter(object_type=object_type).order_by("label"))


def catalogue(*, object_type: str, customs: list[CustomField]) -> dict[str, Field]:
    """Every field a column may feed, by name: the standard ones, then custom.<key>."""
    fields = {f.name: f for f in STANDARD_FIELDS[object_type]}
    for custom in customs:
        fields[f"custom.{custom.key}"] = Field(f"custom.{custom.key}", custom.label, "custom")
    return fields


def auto_map(headers: list[str], *, object_type: str, customs: list[CustomField]) -> list[str]:
    """One field name (or "") per header."""
    table = dict(ALIASES[object_type])
    for custom in customs:
        name = f"custom.{custom.key}"
        for rank, alias in enumerate((custom.key, custom.label)):
            table.setdefault(header_key(alias), (name, rank))
    best: dict[str, tuple[int, int]] = {}  # field -> (rank, column)
    for column, header in enumerate(headers):
        hit = table.get(header_key(header))
        if hit is None:
            continue
        field, rank = hit
        if field not in best or (rank, column) < best[field]:
            best[field] = (rank, column)
    mapping = [""] * len(headers)
    for field, (_, column) in best.items():
        mapping[column] = field
    return mapping


def check_mapping(mapping: list[str], *, headers: list[str], fields: dict[str, Field]) -> list[str]:
    """Problems with a mapping, as sentences (empty when it is usable)."""
    from .reading import column_label

    problems = []
    seen: dict[str, int] = {}
    for column, name in enumerate(mapping):
        if not name:
            continue
        if name not in fields:
            problems.append(f"{column_label(headers, column)}: there is no field “{name}”.")
            continue
        if name in seen:
            problems.append(
                f"{fields[name].label} is fed by two columns, {column_label(headers, seen[name])} and "
                f"{column_label(headers, column)}. Pick one and set the other to “Don't import”."
            )
        seen[name] = column
    if not seen:
        problems.append("No column is imported. Choose a field for at least one column.")
    return problems
