"""The organisation's UTM conventions: one taxonomy, one validator, a URL builder and the violations.

`validate` is the single judge of a set of UTM values: the URL builder, the
campaign QA check, the API and the violations page all ask it, so a value is
never valid in one place and broken in another. The violations page filters
touchpoints in SQL with `violation_filters`, which states the same rules as
database conditions (a campaign pattern is checked to compile in both Python
and PostgreSQL when it is saved, so both read it alike); each listed row's
reasons then come from `validate` itself.

At ingest (the records API, bulk upserts, the CSV import) `ingest_problems`
judges a lead's or touchpoint's values with `validate(require_all=False)`: a
record with no UTM values at all is not a violation (a lead typed in by hand
has none), a half-tagged one is. With `enforce_at_ingest` the taxonomy refuses
such a record (`ingest_check` raises `UtmRefused`); without it the record is
stored and the API answers with its `utm_problems`. The taxonomy is read once
per request or import (`ingest_taxonomy`), and not at all for an organisation
that never saved one (a marker in the cache says so).

Touchpoints are linked to campaigns by value, not by a foreign key: a
touchpoint belongs to the campaign whose `utm_campaign` equals its own
(`touchpoints_for_campaign`, `with_campaign`), exactly as the rollups and the
spend ledger match them, so a campaign created after its first clicks still
sees them.
"""

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, OuterRef, Q, Subquery

from apps.core.errors import ServiceError
from apps.execution.models import Campaign, UtmTaxonomy
from apps.records.models import Touchpoint

FIELDS = ("utm_source", "utm_medium", "utm_campaign")
LABELS = {"utm_source": "source", "utm_medium": "medium", "utm_campaign": "campaign"}
MAX_VALUES = 100
MAX_VALUE_LENGTH = 255


@dataclass(frozen=True)
class Problem:
    field: str  # utm_source, utm_medium or utm_campaign
    code: str  # missing, case, not_allowed, pattern
    message: str

    def as_dict(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}


# Reading and saving the taxonomy ---------------------------------------------------------------


def taxonomy_for(org) -> UtmTaxonomy:
    """The organisation's taxonomy; an unsaved, permissive one (lower case only) until someone saves it."""
    return UtmTaxonomy.objects.for_org(org).first() or UtmTaxonomy(organization=org)


def _clean_list(values, *, field: str, lowercase: bool) -> list[str]:
    if isinstance(values, str):
        values = re.split(r"[,\n]", values)
    if not isinstance(values, (list, tuple)):
        raise ServiceError("Give a list of values.", field=field)
    cleaned = []
    for raw in values:
        value = str(raw).strip()
        if not value:
            continue
        if len(value) > MAX_VALUE_LENGTH:
            raise ServiceError(f"“{value[:30]}…” is longer than {MAX_VALUE_LENGTH} characters.", field=field)
        if lowercase and value != value.lower():
            raise ServiceError(f"“{value}” is not lower case, but the taxonomy asks for it.", field=field)
        if value not in cleaned:
            cleaned.append(value)
    if len(cleaned) > MAX_VALUES:
        raise ServiceError(f"Keep it to {MAX_VALUES} values.", field=field)
    return cleaned


def _check_pattern(pattern: str) -> None:
    """The pattern must compile in Python (the validator) and in PostgreSQL (the violations filter)."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ServiceError(f"Not a valid regular expression: {exc}.", field="campaign_pattern") from None
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT '' ~ %s", [f"^(?:{pattern})$"])
    except DatabaseError:
        raise ServiceError(
            "The database cannot read this expression; keep to plain classes, groups and repeats.",
            field="campaign_pattern",
        ) from None


@transaction.atomic
def taxonomy_update(
    *,
    org,
    allowed_sources,
    allowed_mediums,
    campaign_pattern: str = "",
    campaign_pattern_help: str = "",
    lowercase: bool = True,
    enforce_at_ingest: bool = False,
) -> UtmTaxonomy:
    taxonomy = UtmTaxonomy.objects.select_for_update().filter(organization=org).first()
    taxonomy = taxonomy or UtmTaxonomy(organization=org)
    pattern = (campaign_pattern or "").strip()
    if pattern:
        _check_pattern(pattern)
    if pattern and not (campaign_pattern_help or "").strip():
        raise ServiceError(
            "Describe the pattern in plain words, for the people who tag links.",
            field="campaign_pattern_help",
        )
    taxonomy.allowed_sources = _clean_list(allowed_sources, field="allowed_sources", lowercase=lowercase)
    taxonomy.allowed_mediums = _clean_list(allowed_mediums, field="allowed_mediums", lowercase=lowercase)
    taxonomy.campaign_pattern = pattern
    taxonomy.campaign_pattern_help = (campaign_pattern_help or "").strip()
    taxonomy.lowercase = bool(lowercase)
    taxonomy.enforce_at_ingest = bool(enforce_at_ingest)
    taxonomy.save()
    _mark_saved(org)
    return taxonomy


# Validating ----------------------------------------------------------------------------------


def _allowed(value: str, allowed: list[str], lowercase: bool) -> bool:
    if not allowed:
        return True
    if lowercase:
        return value in allowed
    return value.casefold() in {a.casefold() for a in allowed}


def validate(taxonomy: UtmTaxonomy, values: dict, *, require_all: bool = True) -> list[Problem]:
    """Every way `values` ({utm_source, utm_medium, utm_campaign}) breaks the taxonomy, in field order.

    With `require_all`, a missing value is a problem (a tagged link needs all
    three); without it (a touchpoint), only the values present are judged,
    unless some are present and others not: a half-tagged touchpoint is reported too.
    """
    values = {name: str(values.get(name) or "").strip() for name in FIELDS}
    tagged = any(values.values())
    problems = []
    for name in FIELDS:
        value, label = values[name], LABELS[name]
        if not value:
            if require_all or tagged:
                problems.append(Problem(name, "missing", f"No {label} given."))
            continue
        if taxonomy.lowercase and value != value.lower():
            problems.append(Problem(name, "case", f"The {label} “{value}” is not lower case."))
        if name == "utm_source" and not _allowed(value, taxonomy.allowed_sources, taxonomy.lowercase):
            problems.append(Problem(name, "not_allowed", f"“{value}” is not an allowed source."))
        if name == "utm_medium" and not _allowed(value, taxonomy.allowed_mediums, taxonomy.lowercase):
            problems.append(Problem(name, "not_allowed", f"“{value}” is not an allowed medium."))
        pattern = taxonomy.campaign_pattern if name == "utm_campaign" else ""
        if pattern and re.fullmatch(pattern, value) is None:
            rule = taxonomy.campaign_pattern_help or pattern
            problems.append(Problem(name, "pattern", f"“{value}” does not follow the naming rule: {rule}."))
    return problems


# Checking records at ingest -----------------------------------------------------------------------


def _saved_key(org) -> str:
    return f"utm:taxonomy-saved:{org.pk}"


# How long "never saved a taxonomy" is believed without asking the database. A save sets the marker
# at once (see _mark_saved), so this only bounds how long a row written some other way goes unseen.
NEVER_SAVED_SECONDS = 600


def _mark_saved(org) -> None:
    """Remember that `org` has a taxonomy, before its transaction commits.

    Set unconditionally, while `ingest_taxonomy` only ever *adds* "never saved": a reader that found
    no row just before this save cannot overwrite the marker, and one that added "never saved" before
    it is overwritten here. Were the save rolled back, the marker would only cost a query."""
    cache.set(_saved_key(org), True, None)


def ingest_taxonomy(org) -> UtmTaxonomy:
    """`taxonomy_for`, without touching the database for an organisation known never to have saved one.

    Read it once per request or import and hand it to every record of it."""
    if cache.get(_saved_key(org)) is False:
        return UtmTaxonomy(organization=org)
    taxonomy = UtmTaxonomy.objects.for_org(org).first()
    if taxonomy is None:
        cache.add(_saved_key(org), False, NEVER_SAVED_SECONDS)
        return UtmTaxonomy(organization=org)
    return taxonomy


def ingest_values(record) -> dict:
    """A lead's or touchpoint's UTM values, as validate reads them."""
    return {name: getattr(record, name) for name in FIELDS}


def ingest_problems(taxonomy: UtmTaxonomy, values: dict, *, partial: bool = False) -> list[Problem]:
    """What is wrong with the UTM values of a record arriving through the API or an import.

    No value at all is no problem (a record need not be tagged); some but not all is. `partial` is
    for values that only change some fields of an existing record: an absent value is then the
    record's own, not a missing one, so only the values given are judged."""
    problems = validate(taxonomy, values, require_all=False)
    if partial:
        problems = [p for p in problems if p.code != "missing"]
    return problems


class UtmRefused(ServiceError):
    """A record refused because its UTM values break a taxonomy that is enforced at ingest.

    The message is the first problem's; `fields` names every field with every reason."""

    def __init__(self, problems: list[Problem]):
        super().__init__(problems[0].message, code="utm_convention", field=problems[0].field)
        self.problems = problems

    @property
    def fields(self) -> dict[str, list[str]]:
        fields: dict[str, list[str]] = {}
        for problem in self.problems:
            fields.setdefault(problem.field, []).append(problem.message)
        return fields


def ingest_check(taxonomy: UtmTaxonomy, values: dict) -> list[Problem]:
    """`ingest_problems`, refused with `UtmRefused` when the taxonomy is enforced at ingest."""
    problems = ingest_problems(taxonomy, values)
    if problems and taxonomy.enforce_at_ingest:
        raise UtmRefused(problems)
    return problems


def values_from_url(url: str) -> dict:
    """The utm_* values a URL's query string carries."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ServiceError("Not a valid URL.", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ServiceError("Give a full http(s) URL.", field="url")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return {name: query.get(name, "") for name in FIELDS}


@dataclass(frozen=True)
class Built:
    url: str
    problems: list[Problem]

    @property
    def valid(self) -> bool:
        return not self.problems


def build_url(*, taxonomy: UtmTaxonomy, url: str, values: dict, extra: dict | None = None) -> Built:
    """The landing URL with the UTM values set (replacing any it had), and what is wrong with them.

    `extra` may carry utm_term and utm_content, which the taxonomy does not govern."""
    values_from_url(url)  # refuses anything that is not a full http(s) URL
    parts = urlsplit(url.strip())
    tags = {name: str(values.get(name) or "").strip() for name in FIELDS}
    for name in ("utm_term", "utm_content"):
        if (extra or {}).get(name):
            tags[name] = str(extra[name]).strip()
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in tags]
    query += [(k, v) for k, v in tags.items() if v]
    built = urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), parts.fragment))
    return Built(url=built, problems=validate(taxonomy, tags))


# Touchpoints that break the convention ---------------------------------------------------------

REASONS = {
    "missing": "A value is missing",
    "case": "Not lower case",
    "source": "Source not allowed",
    "medium": "Medium not allowed",
    "pattern": "Campaign breaks the naming rule",
}


def violation_filters(taxonomy: UtmTaxonomy) -> dict[str, Q]:
    """Each rule as a condition on Touchpoint rows (only tagged touchpoints are judged)."""
    filters = {"missing": Q(utm_source="") | Q(utm_medium="") | Q(utm_campaign="")}
    if taxonomy.lowercase:
        filters["case"] = (
            Q(utm_source__regex="[A-Z]") | Q(utm_medium__regex="[A-Z]") | Q(utm_campaign__regex="[A-Z]")
        )
    for key, field, allowed in (
        ("source", "utm_source", taxonomy.allowed_sources),
        ("medium", "utm_medium", taxonomy.allowed_mediums),
    ):
        if not allowed:
            continue
        if taxonomy.lowercase:
            ok = Q(**{f"{field}__in": allowed})
        else:
            ok = Q(**{f"{field}__iregex": "^(" + "|".join(re.escape(a) for a in allowed) + ")$"})
        filters[key] = ~Q(**{field: ""}) & ~ok
    if taxonomy.campaign_pattern:
        filters["pattern"] = ~Q(utm_campaign="") & ~Q(
            utm_campaign__regex=f"^(?:{taxonomy.campaign_pattern})$"
        )
    return filters


TAGGED = ~Q(utm_source="", utm_medium="", utm_campaign="")


def violations(*, org, taxonomy: UtmTaxonomy, reason: str | None = None):
    """Tagged touchpoints breaking at least one rule (or the given one), newest first."""
    filters = violation_filters(taxonomy)
    if reason:
        condition = filters.get(reason, Q(pk__in=[]))
    else:
        condition = Q(pk__in=[])
        for q in filters.values():
            condition |= q
    return (
        Touchpoint.objects.for_org(org)
        .filter(TAGGED)
        .filter(condition)
        .select_related("lead")
        .order_by("-occurred_at", "-id")
    )


def violation_counts(*, org, taxonomy: UtmTaxonomy) -> dict:
    """Tagged touchpoints, those breaking any rule, and per rule: one query."""
    filters = violation_filters(taxonomy)
    anything = Q(pk__in=[])
    for q in filters.values():
        anything |= q
    aggregates = {"tagged": Count("id"), "broken": Count("id", filter=anything)}
    aggregates |= {key: Count("id", filter=q) for key, q in filters.items()}
    counts = Touchpoint.objects.for_org(org).filter(TAGGED).aggregate(**aggregates)
    return {
        "tagged": counts["tagged"],
        "broken": counts["broken"],
        "by_reason": [(key, REASONS[key], counts[key]) for key in filters],
    }


# Linking touchpoints to campaigns by value -------------------------------------------------------


def touchpoints_for_campaign(*, org, campaign: Campaign):
    """The campaign's touchpoints: those carrying its utm_campaign (none when it has no value)."""
    if not campaign.utm_campaign:
        return Touchpoint.objects.none()
    return Touchpoint.objects.for_org(org).filter(utm_campaign=campaign.utm_campaign)


def with_campaign(queryset, *, org):
    """Annotate touchpoints with `campaign_id`: the campaign whose utm_campaign they carry, or None."""
    match = (
        Campaign.objects.for_org(org).filter(utm_campaign=OuterRef("utm_campaign")).exclude(utm_campaign="")
    )
    return queryset.annotate(campaign_id=Subquery(match.values("pk")[:1]))
