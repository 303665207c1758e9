"""Duplicate detection: exact e-mail and fuzzy name + company / domain / account, with should-not cases."""

import pytest

from apps.core.errors import ServiceError
from apps.quality import matching, services
from apps.quality.services.duplicates import _COMPANY_SUFFIX_RE, _NOT_ALNUM_RE
from apps.records import services as records
from apps.records.models import DuplicateCandidate, Lead
from apps.records.normalize import company_key

pytestmark = pytest.mark.django_db


def pairs(org, reason=None):
    rows = DuplicateCandidate.objects.for_org(org)
    if reason:
        rows = rows.filter(reason=reason)
    return {frozenset((c.lead_id, c.other_id)): c for c in rows}


def pair(a, b):
    return frozenset((a.pk, b.pk))


# --- Pure rules ------------------------------------------------------------------------


def test_name_key_needs_two_words_and_ignores_case_and_spacing():
    assert matching.name_key("  Ada ", "LOVELACE") == "ada lovelace"
    assert matching.name_key("Ada  Byron", "King") == "ada byron king"
    assert matching.name_key("Ada", "") == ""  # a lone first name says too little


def test_fuzzy_score_weights():
    assert matching.fuzzy_score(same_company=True, same_domain=False, same_account=False) == 0.75
    assert matching.fuzzy_score(same_company=False, same_domain=True, same_account=False) == 0.65
    assert matching.fuzzy_score(same_company=True, same_domain=True, same_account=True) == 0.95


def test_company_key_in_sql_matches_python(db):
    from django.db import connection

    names = ["Acme, Inc.", "ACME", "Acme Corp", "Globex GmbH", "Initech Co.", "Coca-Cola Co", "Sans Inc", ""]
    with connection.cursor() as cursor:
        for name in names:
            cursor.execute(
                "SELECT regexp_replace(regexp_replace(lower(%s), %s, '', 'g'), %s, '', 'g')",
                [name, _COMPANY_SUFFIX_RE, _NOT_ALNUM_RE],
            )
            assert cursor.fetchone()[0] == company_key(name), name


# --- Exact e-mail -------------------------------------------------------------------------


def test_exact_email_is_flagged_on_create_and_not_again_by_detection(org, make_lead):
    first = make_lead(email="ada@acme.test", first_name="Ada")
    second = make_lead(email=" ADA@acme.test ", first_name="Ada L.")
    assert set(pairs(org, "email")) == {pair(first, second)}

    assert services.duplicates_detect(org=org) == {"email": 0, "fuzzy": 0}
    assert DuplicateCandidate.objects.for_org(org).count() == 1


def test_detection_finds_exact_pairs_that_arrived_without_the_flag(org, make_lead):
    first = make_lead(email="grace@navy.test")
    second = make_lead(email="other@navy.test")
    Lead.objects.filter(pk=second.pk).update(email="grace@navy.test")  # e.g. a raw import or an update

    assert services.duplicates_detect(org=org) == {"email": 1, "fuzzy": 0}
    candidate = pairs(org, "email")[pair(first, second)]
    assert (candidate.lead_id, candidate.other_id, candidate.score) == (second.pk, first.pk, 1.0)


# --- Fuzzy -----------------------------------------------------------------------------------


def test_same_name_and_company_key_is_a_fuzzy_pair(org, make_lead):
    a = make_lead(first_name="Ada", last_name="Lovelace", company="Acme, Inc.", email="ada@gmail.com")
    b = make_lead(first_name="ada", last_name="LOVELACE", company="ACME", email="")
    assert services.duplicates_detect(org=org) == {"email": 0, "fuzzy": 1}
    candidate = pairs(org, "fuzzy")[pair(a, b)]
    assert candidate.score == 0.75
    assert candidate.status == DuplicateCandidate.Status.OPEN
    assert matching.is_fuzzy_match(a, b)
    assert matching.evidence(a, b) == ["same name (Ada Lovelace)", "same company (Acme, Inc. / ACME)"]


def test_same_name_with_company_domain_and_account_is_a_pair(org, make_lead):
    account = records.account_create(org=org, name="Initech", domain="initech.test")
    a = make_lead(first_name="Peter", last_name="Gibbons", email="peter@initech.test")
    b = make_lead(first_name="Peter", last_name="Gibbons", email="pgibbons@initech.test", company="Initech")
    assert a.account == account and b.account == account
    services.duplicates_detect(org=org)
    assert pairs(org, "fuzzy")[pair(a, b)].score == 0.75  # name .5 + domain .15 + account .1


def test_same_name_different_company_is_not_a_pair(org, make_lead):
    make_lead(first_name="John", last_name="Smith", company="Acme", email="john@gmail.com")
    make_lead(first_name="John", last_name="Smith", company="Globex", email="jsmith@yahoo.com")
    assert services.duplicates_detect(org=org) == {"email": 0, "fuzzy": 0}


def test_same_company_different_name_is_not_a_pair(org, make_lead):
    make_lead(first_name="Ada", last_name="Lovelace", company="Acme", email="ada@acme.test")
    make_lead(first_name="Grace", last_name="Hopper", company="Acme", email="grace@acme.test")
    assert services.duplicates_detect(org=org) == {"email": 0, "fuzzy": 0}


def test_free_mail_domain_is_no_evidence(org, make_lead):
    make_lead(first_name="Jane", last_name="Doe", email="jane.doe@gmail.com")
    make_lead(first_name="Jane", last_name="Doe", email="jdoe@gmail.com")
    assert services.duplicates_detect(org=org) == {"email": 0, "fuzzy": 0}


def test_a_single_word_name_is_not_enough(org, make_lead):
    make_lead(first_name="Cher", company="Acme")
    make_lead(first_name="Cher", company="Acme")
    assert services.duplicates_detect(org=org)["fuzzy"] == 0


def test_too_common_names_are_skipped(org, make_lead):
    for _ in range(3):
        make_lead(first_name="Test", last_name="User", company="Acme")
    assert services.duplicates_detect(org=org, max_block=2)["fuzzy"] == 0
    assert services.duplicates_detect(org=org, max_block=3)["fuzzy"] == 3


def test_detection_is_idempotent_and_respects_dismissals_and_merges(org, owner, make_lead):
    a = make_lead(first_name="Ada", last_name="Lovelace", company="Acme")
    b = make_lead(first_name="Ada", last_name="Lovelace", company="Acme Inc")
    c = make_lead(first_name="Ada", last_name="Lovelace", company="ACME")
    assert services.duplicates_detect(org=org)["fuzzy"] == 3
    assert services.duplicates_detect(org=org)["fuzzy"] == 0

    services.duplicate_dismiss(org=org, candidate=pairs(org)[pair(a, b)], actor=owner)
    DuplicateCandidate.objects.filter(pk=pairs(org)[pair(a, c)].pk).delete()
    services.lead_merge(org=org, survivor=b, merged=c)
    # (a, c) is gone but c is merged now; (a, b) stays dismissed.
    assert services.duplicates_detect(org=org)["fuzzy"] == 0
    assert pairs(org)[pair(a, b)].status == DuplicateCandidate.Status.DISMISSED


def test_detection_stays_inside_the_organisation(org, other_org, make_lead):
    make_lead(first_name="Ada", last_name="Lovelace", company="Acme", email="ada@acme.test")
    make_lead(other_org, first_name="Ada", last_name="Lovelace", company="Acme", email="ada@acme.test")
    assert services.duplicates_detect(org=org) == {"email": 0, "fuzzy": 0}
    assert services.duplicates_detect(org=other_org) == {"email": 0, "fuzzy": 0}


def test_dismiss_twice_is_refused(org, make_lead):
    make_lead(email="x@acme.test")
    make_lead(email="x@acme.test")
    candidate = DuplicateCandidate.objects.get(organization=org)
    services.duplicate_dismiss(org=org, candidate=candidate)
    with pytest.raises(ServiceError, match="already not a duplicate"):
        services.duplicate_dismiss(org=org, candidate=candidate)


def test_dismiss_refuses_another_organisations_pair(org, other_org, make_lead):
    make_lead(other_org, email="x@globex.test")
    make_lead(other_org, email="x@globex.test")
    theirs = DuplicateCandidate.objects.get(organization=other_org)
    with pytest.raises(ServiceError):
        services.duplicate_dismiss(org=org, candidate=theirs)
    theirs.refresh_from_db()
    assert theirs.status == DuplicateCandidate.Status.OPEN
