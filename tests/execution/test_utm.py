"""The UTM taxonomy: validation cases, the URL builder, violations and counts, linking, pages and API."""

import re

import pytest
from django.urls import reverse

from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution.models import Campaign, UtmTaxonomy
from apps.execution.services import utm
from apps.records import services as records
from apps.records.models import Touchpoint
from tests import factories

pytestmark = pytest.mark.django_db
PATTERN = r"\d{4}-q[1-4]-[a-z0-9-]+"


@pytest.fixture
def taxonomy(org):
    return utm.taxonomy_update(
        org=org,
        allowed_sources=["google", "linkedin", "newsletter"],
        allowed_mediums=["cpc", "paid-social", "email"],
        campaign_pattern=PATTERN,
        campaign_pattern_help="year-quarter-name, like 2026-q3-webinar",
    )


def codes(taxonomy, **values):
    return [(p.field, p.code) for p in utm.validate(taxonomy, values)]


def test_valid_values_pass(taxonomy):
    assert codes(taxonomy, utm_source="google", utm_medium="cpc", utm_campaign="2026-q1-brand-search") == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"utm_source": "Google", "utm_medium": "cpc", "utm_campaign": "2026-q1-x"},
            [("utm_source", "case"), ("utm_source", "not_allowed")],
        ),
        (
            {"utm_source": "bing", "utm_medium": "cpc", "utm_campaign": "2026-q1-x"},
            [("utm_source", "not_allowed")],
        ),
        (
            {"utm_source": "google", "utm_medium": "banner", "utm_campaign": "2026-q1-x"},
            [("utm_medium", "not_allowed")],
        ),
        (
            {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring-promo"},
            [("utm_campaign", "pattern")],
        ),
        (
            {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "2026-q5-x"},
            [("utm_campaign", "pattern")],
        ),
        (
            {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "2026-Q1-x"},
            [("utm_campaign", "case"), ("utm_campaign", "pattern")],
        ),
        ({"utm_source": "google"}, [("utm_medium", "missing"), ("utm_campaign", "missing")]),
    ],
)
def test_each_rule(taxonomy, values, expected):
    assert codes(taxonomy, **values) == expected


def test_a_touchpoint_is_judged_only_when_tagged(taxonomy):
    assert utm.validate(taxonomy, {}, require_all=False) == []
    half = utm.validate(taxonomy, {"utm_source": "google"}, require_all=False)
    assert [p.code for p in half] == ["missing", "missing"]


def test_without_lowercase_rule_lists_compare_case_insensitively(org):
    taxonomy = utm.taxonomy_update(
        org=org, allowed_sources=["Google"], allowed_mediums=[], lowercase=False, campaign_pattern=""
    )
    assert codes(taxonomy, utm_source="GOOGLE", utm_medium="anything", utm_campaign="Any Thing") == []


def test_an_unsaved_taxonomy_only_asks_for_lower_case(org):
    taxonomy = utm.taxonomy_for(org)
    assert taxonomy.pk is None
    assert codes(taxonomy, utm_source="x", utm_medium="y", utm_campaign="Z") == [("utm_campaign", "case")]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"campaign_pattern": "([a-z", "campaign_pattern_help": "x"}, "campaign_pattern"),
        ({"campaign_pattern": "[a-z]+"}, "campaign_pattern_help"),
        ({"allowed_sources": ["Google"]}, "allowed_sources"),
        ({"allowed_mediums": "x" * 300}, "allowed_mediums"),
    ],
)
def test_saving_refuses_bad_taxonomies_naming_the_field(org, fields, field):
    values = {"allowed_sources": [], "allowed_mediums": [], **fields}
    with pytest.raises(ServiceError) as exc:
        utm.taxonomy_update(org=org, **values)
    assert exc.value.field == field


def test_lists_are_cleaned_and_one_taxonomy_per_org(org):
    utm.taxonomy_update(org=org, allowed_sources="google, bing\nbing\n", allowed_mediums=[])
    utm.taxonomy_update(org=org, allowed_sources=["google", "bing"], allowed_mediums=["cpc"])
    assert UtmTaxonomy.objects.filter(organization=org).count() == 1
    assert utm.taxonomy_for(org).allowed_sources == ["google", "bing"]


def test_the_builder_tags_a_url_and_says_what_is_wrong(taxonomy):
    built = utm.build_url(
        taxonomy=taxonomy,
        url="https://acme.test/webinar?ref=x&utm_source=old",
        values={"utm_source": "linkedin", "utm_medium": "paid-social", "utm_campaign": "2026-q2-webinar"},
        extra={"utm_content": "video-15s"},
    )
    assert built.valid
    assert built.url == (
        "https://acme.test/webinar?ref=x&utm_source=linkedin&utm_medium=paid-social"
        "&utm_campaign=2026-q2-webinar&utm_content=video-15s"
    )
    bad = utm.build_url(taxonomy=taxonomy, url="https://acme.test", values={"utm_source": "LinkedIn"})
    assert not bad.valid and bad.url == "https://acme.test/?utm_source=LinkedIn"
    with pytest.raises(ServiceError) as exc:
        utm.build_url(taxonomy=taxonomy, url="ftp://acme.test", values={})
    assert exc.value.field == "url"


def _touch(org, lead, source, medium, campaign):
    return records.touchpoint_create(
        org=org, lead=lead, utm_source=source, utm_medium=medium, utm_campaign=campaign, type="visit"
    )


@pytest.fixture
def touches(org, taxonomy):
    lead = records.lead_create(org=org, email="t@acme.test")
    return {
        "ok": _touch(org, lead, "google", "cpc", "2026-q1-brand-search"),
        "case": _touch(org, lead, "LinkedIn", "paid-social", "2026-q1-abm"),  # case and not allowed
        "source": _touch(org, lead, "capterra", "cpc", "2026-q1-listing"),
        "pattern": _touch(org, lead, "google", "cpc", "brand"),
        "missing": _touch(org, lead, "newsletter", "", "2026-q1-news"),
        "untagged": _touch(org, lead, "", "", ""),
    }


def test_violations_and_counts(org, taxonomy, touches):
    counts = utm.violation_counts(org=org, taxonomy=taxonomy)
    assert counts["tagged"] == 5 and counts["broken"] == 4
    by_reason = {key: n for key, _, n in counts["by_reason"]}
    assert by_reason == {"missing": 1, "case": 1, "source": 2, "medium": 0, "pattern": 1}
    broken = set(utm.violations(org=org, taxonomy=taxonomy).values_list("pk", flat=True))
    assert broken == {touches[k].pk for k in ("case", "source", "pattern", "missing")}
    assert list(utm.violations(org=org, taxonomy=taxonomy, reason="pattern")) == [touches["pattern"]]
    # The SQL filter and the validator agree on every touchpoint.
    for tp in touches.values():
        assert bool(utm.validate(taxonomy, tp.__dict__, require_all=False)) == (tp.pk in broken)


def test_touchpoints_are_linked_to_campaigns_by_value(org, touches):
    campaign = Campaign.objects.create(
        organization=org, name="Brand", type="paid_search", utm_campaign="2026-q1-brand-search"
    )
    assert list(utm.touchpoints_for_campaign(org=org, campaign=campaign)) == [touches["ok"]]
    annotated = utm.with_campaign(Touchpoint.objects.for_org(org), org=org)
    linked = dict(annotated.values_list("pk", "campaign_id"))
    assert linked[touches["ok"].pk] == campaign.pk and linked[touches["pattern"].pk] is None


# Pages ------------------------------------------------------------------------------------------------


def test_violations_page_lists_rows_with_reasons(owner_client, org, touches):
    response = owner_client.get(reverse("execution_utm_violations", args=[org.slug]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "4 of 5 tagged touchpoints" in body
    assert "“capterra” is not an allowed source." in body
    assert "Source not allowed (2)" in body
    response = owner_client.get(reverse("execution_utm_violations", args=[org.slug]), {"reason": "pattern"})
    assert response.content.decode().count("does not follow the naming rule") == 1


def test_violations_page_empty_state(owner_client, org):
    response = owner_client.get(reverse("execution_utm_violations", args=[org.slug]))
    assert "No touchpoint breaks the convention" in response.content.decode()


def test_taxonomy_page_edits_for_operations_only(client, org, members):
    url = reverse("execution_utm_taxonomy", args=[org.slug])
    client.force_login(members[Role.MARKETER].user)
    assert client.get(url).status_code == 200
    assert client.post(url, {"allowed_sources": "google"}).status_code == 403
    client.force_login(members[Role.REVOPS_LEAD].user)
    response = client.post(
        url,
        {
            "allowed_sources": "google\nbing",
            "allowed_mediums": "cpc",
            "lowercase": "on",
            "campaign_pattern": PATTERN,
            "campaign_pattern_help": "year-quarter-name",
        },
    )
    assert response.status_code == 302
    assert utm.taxonomy_for(org).allowed_sources == ["google", "bing"]
    assert utm.taxonomy_for(org).enforce_at_ingest is False
    response = client.post(
        url,
        {
            "allowed_sources": "",
            "allowed_mediums": "",
            "campaign_pattern": "([",
            "campaign_pattern_help": "x",
        },
    )
    assert response.status_code == 400 and "Not a valid regular expression" in response.content.decode()


def test_taxonomy_page_turns_enforcement_at_ingest_on_and_says_so(client, org, members):
    url = reverse("execution_utm_taxonomy", args=[org.slug])
    client.force_login(members[Role.REVOPS_LEAD].user)
    assert 'name="enforce_at_ingest"' in client.get(url).content.decode()
    form = {"allowed_sources": "google", "allowed_mediums": "cpc", "lowercase": "on"}
    response = client.post(url, {**form, "enforce_at_ingest": "on"})
    assert response.status_code == 302
    assert utm.taxonomy_for(org).enforce_at_ingest is True
    page = client.get(url).content.decode()
    assert re.search(r'<input type="checkbox" name="enforce_at_ingest"[^>]* checked>', page)
    client.force_login(members[Role.MARKETER].user)
    body = client.get(url).content.decode()
    assert '<dd id="enforce-at-ingest">records that break the conventions are refused</dd>' in body


def test_ingest_judges_only_tagged_records(taxonomy):
    assert utm.ingest_problems(taxonomy, {"utm_source": "", "utm_medium": "", "utm_campaign": ""}) == []
    half = utm.ingest_problems(taxonomy, {"utm_source": "google"})
    assert [(p.field, p.code) for p in half] == [("utm_medium", "missing"), ("utm_campaign", "missing")]
    # Changing one value of a record: the others are the record's own, not missing.
    assert utm.ingest_problems(taxonomy, {"utm_campaign": "2026-q1-x"}, partial=True) == []
    only = utm.ingest_problems(taxonomy, {"utm_campaign": "spring"}, partial=True)
    assert [(p.field, p.code) for p in only] == [("utm_campaign", "pattern")]


def test_ingest_check_refuses_only_when_enforced(org, taxonomy):
    broken = {"utm_source": "bing", "utm_medium": "cpc", "utm_campaign": "2026-q1-x"}
    assert [p.code for p in utm.ingest_check(taxonomy, broken)] == ["not_allowed"]
    taxonomy.enforce_at_ingest = True
    with pytest.raises(utm.UtmRefused) as refused:
        utm.ingest_check(taxonomy, broken)
    assert (refused.value.field, refused.value.message) == ("utm_source", "“bing” is not an allowed source.")
    assert utm.ingest_check(taxonomy, {}) == []


def test_builder_page(owner_client, org, taxonomy):
    url = reverse("execution_utm_builder", args=[org.slug])
    assert owner_client.get(url).status_code == 200
    response = owner_client.get(
        url,
        {"url": "https://acme.test/x", "utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring"},
    )
    body = response.content.decode()
    assert "https://acme.test/x?utm_source=google&amp;utm_medium=cpc&amp;utm_campaign=spring" in body
    assert "does not follow the naming rule" in body


# API ---------------------------------------------------------------------------------------------------


def test_api_taxonomy_get_and_put(api, org):
    url = reverse("api-utm-taxonomy")
    assert api.get(url).json()["allowed_sources"] == []
    body = {
        "allowed_sources": ["google"],
        "allowed_mediums": ["cpc"],
        "campaign_pattern": PATTERN,
        "campaign_pattern_help": "year-quarter-name",
        "lowercase": True,
        "enforce_at_ingest": True,
    }
    response = api.put(url, body, format="json")
    assert response.status_code == 200, response.content
    assert api.get(url).json() == body
    assert utm.taxonomy_for(org).enforce_at_ingest is True
    # A replacement that leaves it out stops enforcing: off is the default.
    without = {k: v for k, v in body.items() if k != "enforce_at_ingest"}
    assert api.put(url, without, format="json").json()["enforce_at_ingest"] is False
    assert utm.taxonomy_for(org).enforce_at_ingest is False
    response = api.put(url, {**body, "campaign_pattern": "(["}, format="json")
    assert response.status_code == 400
    assert "campaign_pattern" in response.json()["error"]["fields"]
    response = api.put(url, {**body, "colour": "red"}, format="json")
    assert "colour" in response.json()["error"]["fields"]


def test_api_validate_values_and_urls(api, org, taxonomy):
    url = reverse("api-utm-validate")
    response = api.post(
        url,
        {"url": "https://acme.test/?utm_source=Google&utm_medium=cpc&utm_campaign=2026-q1-x"},
        format="json",
    )
    assert response.status_code == 200
    data = response.json()
    assert data["valid"] is False and data["values"]["utm_source"] == "Google"
    assert [p["code"] for p in data["problems"]] == ["case", "not_allowed"]
    response = api.get(url, {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "2026-q1-x"})
    assert response.json() == {
        "valid": True,
        "values": {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "2026-q1-x"},
        "problems": [],
    }
    response = api.post(url, {"url": "not a url"}, format="json")
    assert response.status_code == 400 and "url" in response.json()["error"]["fields"]


def test_a_read_key_may_validate_but_not_change_the_taxonomy(org):
    from tests.conftest import api_client_for

    reader = api_client_for(org, scopes=("read",))
    assert reader.post(reverse("api-utm-validate"), {"utm_source": "x"}, format="json").status_code == 200
    body = {"allowed_sources": [], "allowed_mediums": []}
    assert reader.put(reverse("api-utm-taxonomy"), body, format="json").status_code == 403


def test_taxonomies_stay_in_their_organisation(org, other_org, taxonomy):
    assert utm.taxonomy_for(other_org).pk is None
    outsider = factories.make_member(other_org, role=Role.ADMIN)
    assert outsider.organization_id != org.pk
