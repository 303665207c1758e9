"""Duplicate detection, set-based, and dismissal.

Detection inserts DuplicateCandidate rows straight from SQL, never looping
over leads in Python:

- **exact**: the same non-empty e-mail (also flagged one by one on create by
  apps.records.services; this pass catches rows that arrived another way or
  changed e-mail later);
- **fuzzy**: the rule in apps.quality.matching. Blocking: leads are grouped by
  their name key first, and only leads inside the same block (2 to
  MAX_BLOCK members) are compared, so the work grows with the number of leads,
  not with its square. Company keys and domains are computed only for leads in
  such blocks.

A pair already known in either orientation (open, merged or dismissed) is never
inserted again, so a dismissed pair stays dismissed. Merged leads take no part.
Pairs are stored as (lead = newer id, other = older id), like the flag on create.
"""

import logging

from django.db import connection, transaction
from django.utils import timezone

from apps.core.errors import ServiceError
from apps.quality import matching
from apps.records.models import DuplicateCandidate
from apps.records.normalize import FREE_MAIL_DOMAINS

logger = logging.getLogger(__name__)

# apps.records.normalize.company_key, in Postgres regular-expression syntax
# (\y is a word boundary there, \b in Python).
_COMPANY_SUFFIX_RE = r"\y(inc|incorporated|llc|ltd|limited|gmbh|sa|sas|bv|plc|corp|corporation|co)\y\.?"
_NOT_ALNUM_RE = r"[^a-z0-9]"

_EXACT_SQL = """
    WITH shared AS (
        SELECT email FROM records_lead
        WHERE organization_id = %(org)s AND merged_into_id IS NULL AND email <> ''
        GROUP BY email HAVING count(*) BETWEEN 2 AND %(max_block)s
    ), p AS (
        SELECT b.id AS lead_id, a.id AS other_id
        FROM records_lead AS a
        JOIN shared USING (email)
        JOIN records_lead AS b
          ON b.organization_id = a.organization_id AND b.email = a.email AND b.id > a.id
        WHERE a.organization_id = %(org)s AND a.merged_into_id IS NULL AND b.merged_into_id IS NULL
    )
    INSERT INTO records_duplicatecandidate
        (organization_id, lead_id, other_id, reason, score, status, created_at, updated_at)
    SELECT %(org)s, p.lead_id, p.other_id, 'email', 1.0, 'open', %(now)s, %(now)s
    FROM p
    WHERE NOT EXISTS (
        SELECT 1 FROM records_duplicatecandidate AS d
        WHERE (d.lead_id = p.lead_id AND d.other_id = p.other_id)
           OR (d.lead_id = p.other_id AND d.other_id = p.lead_id)
    )
    ON CONFLICT DO NOTHING
"""

_FUZZY_SQL = """
    WITH named AS (
        SELECT id, lower(btrim(regexp_replace(first_name || ' ' || last_name, '\\s+', ' ', 'g'))) AS name_key
        FROM records_lead
        WHERE organization_id = %(org)s AND merged_into_id IS NULL AND (first_name <> '' OR last_name <> '')
    ), blocks AS (
        SELECT name_key FROM named
        WHERE position(' ' IN name_key) > 0
        GROUP BY name_key HAVING count(*) BETWEEN 2 AND %(max_block)s
    ), keyed AS (
        SELECT l.id, n.name_key, l.email, l.account_id,
               regexp_replace(regexp_replace(lower(l.company), %(suffix_re)s, '', 'g'),
                              %(not_alnum_re)s, '', 'g') AS company_key,
               CASE WHEN l.email LIKE '%%@%%' AND NOT (substring(l.email FROM '@([^@]*)$') = ANY(%(free)s))
                    THEN substring(l.email FROM '@([^@]*)$') ELSE '' END AS domain
        FROM named AS n JOIN blocks USING (name_key) JOIN records_lead AS l ON l.id = n.id
    ), p AS (
        SELECT b.id AS lead_id, a.id AS other_id,
               (a.company_key <> '' AND a.company_key = b.company_key) AS same_company,
               (a.domain <> '' AND a.domain = b.domain) AS same_domain,
               (a.account_id IS NOT NULL AND a.account_id = b.account_id) AS same_account
        FROM keyed AS a JOIN keyed AS b ON b.name_key = a.name_key AND b.id > a.id
        WHERE NOT (a.email <> '' AND a.email = b.email)
    )
    INSERT INTO records_duplicatecandidate
        (organization_id, lead_id, other_id, reason, score, status, created_at, updated_at)
    SELECT %(org)s, p.lead_id, p.other_id, 'fuzzy',
           round(LEAST(%(fuzzy_max)s, %(w_name)s + %(w_company)s * same_company::int
                       + %(w_domain)s * same_domain::int + %(w_account)s * same_account::int)::numeric, 2),
           'open', %(now)s, %(now)s
    FROM p
    WHERE (same_company OR same_domain OR same_account)
    AND NOT EXISTS (
        SELECT 1 FROM records_duplicatecandidate AS d
        WHERE (d.lead_id = p.lead_id AND d.other_id = p.other_id)
           OR (d.lead_id = p.other_id AND d.other_id = p.lead_id)
    )
    ON CONFLICT DO NOTHING
"""


@transaction.atomic
def duplicates_detect(*, org, max_block: int = matching.MAX_BLOCK) -> dict[str, int]:
    """Flag new exact and fuzzy duplicate pairs in `org`; returns how many of each were added."""
    params = {
        "org": org.pk,
        "now": timezone.now(),
        "max_block": max_block,
        "suffix_re": _COMPANY_SUFFIX_RE,
        "not_alnum_re": _NOT_ALNUM_RE,
        "free": sorted(FREE_MAIL_DOMAINS),
        "fuzzy_max": matching.FUZZY_MAX,
        "w_name": matching.NAME_WEIGHT,
        "w_company": matching.COMPANY_WEIGHT,
        "w_domain": matching.DOMAIN_WEIGHT,
        "w_account": matching.ACCOUNT_WEIGHT,
    }
    added = {}
    with connection.cursor() as cursor:
        cursor.execute(_EXACT_SQL, params)
        added["email"] = cursor.rowcount
        cursor.execute(_FUZZY_SQL, params)
        added["fuzzy"] = cursor.rowcount
    return added


@transaction.atomic
def duplicate_dismiss(*, org, candidate: DuplicateCandidate, actor=None) -> DuplicateCandidate:
    """Mark a pair as not a duplicate; detection will not raise it again."""
    if candidate.organization_id != org.pk:
        raise ServiceError("No such duplicate pair in this organisation.", code="not_found")
    updated = DuplicateCandidate.objects.filter(
        pk=candidate.pk, organization=org, status=DuplicateCandidate.Status.OPEN
    ).update(status=DuplicateCandidate.Status.DISMISSED, updated_at=timezone.now())
    candidate.refresh_from_db()
    if not updated:
        raise ServiceError(f"This pair is already {candidate.get_status_display().lower()}.", code="not_open")
    return candidate


def duplicates_detect_request(*, org) -> None:
    """Run detection for `org` in a worker, after the current transaction commits."""
    org_id = org.pk

    def enqueue():
        from apps.quality.tasks import detect_duplicates

        try:
            detect_duplicates.delay(org_id)
        except Exception:  # Redis down: the nightly run catches up.
            logger.warning("could not enqueue duplicate detection for org %s", org_id, exc_info=True)

    transaction.on_commit(enqueue)
