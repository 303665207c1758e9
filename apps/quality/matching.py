"""How two leads are judged to be the same person, in words a reviewer can check.

Fuzzy matching is deliberately plain: no edit distances, only equality on
normalised keys, so every candidate can be explained ("same name, same
company"). Detection (services.duplicates_detect) does the same comparisons in
SQL, blocking on the name key; `evidence()` repeats them in Python for the
review page.

- name key: first + last name, lower-cased, spaces collapsed; at least two words
  (a lone "John" says too little);
- company key: apps.records.normalize.company_key ("Acme, Inc." = "ACME");
- company e-mail domain: the e-mail's domain unless it is a free-mail provider;
- account: the matched account.

A pair is a fuzzy candidate when the name keys are equal and at least one of
company, domain or account agrees. Its score: 0.5 for the name, plus 0.25 for
the company, 0.15 for the domain and 0.1 for the account, at most 0.95 (an
identical e-mail scores 1.0).
"""

import re

from apps.records.normalize import company_domain_of_email, company_key

NAME_WEIGHT = 0.5
COMPANY_WEIGHT = 0.25
DOMAIN_WEIGHT = 0.15
ACCOUNT_WEIGHT = 0.1
FUZZY_MAX = 0.95
# A name (or e-mail) shared by more leads than this is too common to judge
# ("Test User", "info@"), and would make the pair count explode.
MAX_BLOCK = 50

_SPACES = re.compile(r"\s+")


def name_key(first_name: str, last_name: str) -> str:
    key = _SPACES.sub(" ", f"{first_name or ''} {last_name or ''}").strip().lower()
    return key if " " in key else ""


def fuzzy_score(*, same_company: bool, same_domain: bool, same_account: bool) -> float:
    score = NAME_WEIGHT + COMPANY_WEIGHT * same_company + DOMAIN_WEIGHT * same_domain
    return round(min(FUZZY_MAX, score + ACCOUNT_WEIGHT * same_account), 2)


def evidence(a, b) -> list[str]:
    """What two leads have in common, as short phrases (empty when nothing matches)."""
    reasons = []
    if a.email and a.email == b.email:
        reasons.append(f"same e-mail ({a.email})")
    name = name_key(a.first_name, a.last_name)
    if name and name == name_key(b.first_name, b.last_name):
        reasons.append(f"same name ({a.first_name} {a.last_name})".replace("  ", " "))
    company = company_key(a.company)
    if company and company == company_key(b.company):
        reasons.append(
            f"same company ({a.company} / {b.company})"
            if a.company != b.company
            else f"same company ({a.company})"
        )
    domain = company_domain_of_email(a.email)
    if domain and domain == company_domain_of_email(b.email):
        reasons.append(f"same company e-mail domain ({domain})")
    if a.account_id and a.account_id == b.account_id:
        reasons.append("same account")
    return reasons


def is_fuzzy_match(a, b) -> bool:
    """The Python twin of the SQL rule, for tests and explanations."""
    name = name_key(a.first_name, a.last_name)
    if not name or name != name_key(b.first_name, b.last_name):
        return False
    company = company_key(a.company)
    domain = company_domain_of_email(a.email)
    return bool(
        (company and company == company_key(b.company))
        or (domain and domain == company_domain_of_email(b.email))
        or (a.account_id and a.account_id == b.account_id)
    )
