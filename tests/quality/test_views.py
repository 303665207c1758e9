"""Data-quality pages: what each role sees and may do, the flows end to end, and pinned query counts."""

import pytest
from django.urls import reverse

from apps.accounts.roles import Role
from apps.quality import services
from apps.quality.models import QualityJob
from apps.records import services as records
from apps.records.models import CompletenessRule, DuplicateCandidate, Lead, Merge, SourceMapping

pytestmark = pytest.mark.django_db


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


def client_for(client, members, role):
    client.force_login(members[role].user)
    return client


@pytest.fixture
def candidate(org, make_lead):
    make_lead(email="ada@acme.test", first_name="Ada", last_name="Lovelace", company="Acme", score=5)
    make_lead(email="ada@acme.test", first_name="Ada", last_name="King", phone="+44 1", score=50)
    return DuplicateCandidate.objects.get(organization=org)


@pytest.fixture
def merge(org, candidate):
    return services.lead_merge(org=org, survivor=candidate.other, merged=candidate.lead)


# --- Access ---------------------------------------------------------------------------------


READ_PAGES = [
    "quality_index",
    "quality_duplicates",
    "quality_merges",
    "quality_sources",
    "quality_completeness",
]


@pytest.mark.parametrize("name", READ_PAGES)
def test_every_member_can_read(name, client, org, members):
    response = client_for(client, members, Role.VIEWER).get(url(name, org))
    assert response.status_code == 200
    assert 'aria-label="Data quality"' in response.content.decode()


def test_viewer_sees_the_pair_but_cannot_merge_or_dismiss(client, org, members, candidate):
    viewer = client_for(client, members, Role.VIEWER)
    page = viewer.get(url("quality_duplicate", org, candidate.pk)).content.decode()
    assert "Your role can review duplicates but not merge them." in page
    assert (
        viewer.post(url("quality_duplicate_merge", org, candidate.pk), {"survivor": "a"}).status_code == 403
    )
    assert viewer.post(url("quality_duplicate_dismiss", org, candidate.pk)).status_code == 403
    assert viewer.post(url("quality_duplicates", org)).status_code == 403
    assert not Merge.objects.exists()
    candidate.refresh_from_db()
    assert candidate.status == DuplicateCandidate.Status.OPEN


def test_viewer_cannot_undo_or_configure(client, org, members, merge):
    viewer = client_for(client, members, Role.VIEWER)
    assert viewer.post(url("quality_merge_undo", org, merge.pk)).status_code == 403
    assert (
        viewer.post(url("quality_sources", org), {"raw_value": "li", "channel": "Social"}).status_code == 403
    )
    assert viewer.post(url("quality_sources_reapply", org)).status_code == 403
    data = {"object_type": "lead", "lead-object_type": "lead", "lead-field": "title", "lead-weight": 2}
    assert viewer.post(url("quality_completeness", org), data).status_code == 403
    merge.refresh_from_db()
    assert merge.undone_at is None
    assert not SourceMapping.objects.exists() and not CompletenessRule.objects.exists()


def test_sales_rep_can_merge_but_not_configure(client, org, members, candidate):
    rep = client_for(client, members, Role.SALES_REP)
    assert rep.post(url("quality_sources_reapply", org)).status_code == 403
    response = rep.post(
        url("quality_duplicate_merge", org, candidate.pk), {"survivor": "a", "f_last_name": "a"}
    )
    assert response.status_code == 302
    assert Merge.objects.get().merged_by == members[Role.SALES_REP].user


def test_post_only_routes_refuse_get_after_the_lookup(owner_client, org, candidate, merge):
    assert owner_client.get(url("quality_duplicate_merge", org, candidate.pk)).status_code == 405
    assert owner_client.get(url("quality_merge_undo", org, merge.pk)).status_code == 405
    assert owner_client.get(url("quality_sources_reapply", org)).status_code == 405
    assert owner_client.get(url("quality_duplicate_merge", org, 999999)).status_code == 404


# --- Overview ----------------------------------------------------------------------------------


def test_overview_empty_states_say_what_to_do(owner_client, org):
    page = owner_client.get(url("quality_index", org)).content.decode()
    assert "No leads yet. Import or push them through the API" in page
    assert "No duplicates waiting." in page
    assert "No new leads in the last 12 weeks" in page
    assert "Every source has a channel" in page
    assert "data-chart" not in page


def test_overview_shows_kpis_fill_rates_duplicates_unmapped_and_charts(
    owner_client, org, candidate, make_lead
):
    make_lead(email="grace@navy.test", source="LI", company="Navy")
    page = owner_client.get(url("quality_index", org) + "?threshold=50").content.decode()
    assert '<span class="kpi-value">1</span> <span class="muted">pair waiting for review</span>' in page
    assert url("quality_duplicates", org) in page
    assert "<code>li</code>" in page and f"{url('quality_sources', org)}?raw=li#new-mapping" in page
    assert 'data-chart="completeness-trend"' in page and 'data-chart="missing-required-trend"' in page
    assert "vendor/plotly.min.js" in page and "js/charts.js" in page
    assert "A record is complete at 50%" in page
    assert '<th scope="row">Email <span class="badge badge-warn">required</span></th>' in page
    assert "<script>" not in page  # no inline script under the strict CSP


def test_overview_query_count_is_pinned(owner_client, org, make_lead, django_assert_max_num_queries):
    for n in range(30):
        make_lead(email=f"p{n}@x{n % 3}.test", first_name="P", last_name=str(n), source=f"src{n % 4}")
    owner_client.get(url("quality_index", org))  # warm the session
    with django_assert_max_num_queries(11):  # recomputed: rules, trend, sources, one per record type
        assert owner_client.get(url("quality_index", org) + "?refresh=1").status_code == 200
    with django_assert_max_num_queries(5):  # cached figures; the duplicate count stays live
        assert owner_client.get(url("quality_index", org)).status_code == 200


def test_overview_is_cached_until_configuration_changes(
    owner_client, org, make_lead, django_capture_on_commit_callbacks
):
    make_lead(email="a@x.test", source="li")
    assert "<code>li</code>" in owner_client.get(url("quality_index", org)).content.decode()
    make_lead(email="b@x.test", source="newsletter")
    page = owner_client.get(url("quality_index", org)).content.decode()
    assert "<code>newsletter</code>" not in page  # cached for a while...
    assert "Refresh now" in page
    page = owner_client.get(url("quality_index", org) + "?refresh=1").content.decode()
    assert "<code>newsletter</code>" in page  # ...unless asked
    with django_capture_on_commit_callbacks(execute=True):
        services.source_mapping_create(org=org, raw_value="li", channel="Paid Social")
    page = owner_client.get(url("quality_index", org)).content.decode()
    assert "<code>li</code>" not in page  # a new mapping makes the cached figures stale


# --- Duplicates ----------------------------------------------------------------------------------


def test_queue_lists_open_pairs_and_pins_its_query_count(
    owner_client, org, make_lead, django_assert_max_num_queries
):
    for n in range(30):
        make_lead(email=f"dup{n}@acme.test", first_name="D", last_name=str(n))
        make_lead(email=f"dup{n}@acme.test")
    with django_assert_max_num_queries(6):
        response = owner_client.get(url("quality_duplicates", org))
    page = response.content.decode()
    assert page.count("Review</a>") == 25
    assert "Page 1 of 2" in page


def test_queue_empty_state(owner_client, org):
    assert "No duplicates waiting" in owner_client.get(url("quality_duplicates", org)).content.decode()


def test_review_page_compares_side_by_side(owner_client, org, candidate, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        page = owner_client.get(url("quality_duplicate", org, candidate.pk)).content.decode()
    assert "same e-mail (ada@acme.test)" in page
    # Differing fields get a radio per side, preselected by the rules (A, the older lead, survives).
    assert 'name="f_last_name" value="a" checked' in page
    assert 'name="f_phone" value="b" checked' in page  # A has none
    assert 'name="f_score" value="b" checked' in page  # the higher score
    assert 'name="f_email"' not in page  # same on both
    assert "js/quality.js" in page


def test_merge_from_the_queue_with_chosen_survivor_and_fields(owner_client, org, candidate):
    older, newer = candidate.other, candidate.lead
    response = owner_client.post(
        url("quality_duplicate_merge", org, candidate.pk),
        {"survivor": "b", "f_last_name": "a", "f_company": "b", "f_phone": "b", "f_score": "a"},
    )
    assert response.status_code == 302 and response["Location"] == url("quality_duplicates", org)
    newer.refresh_from_db()
    older.refresh_from_db()
    assert older.merged_into_id == newer.pk
    assert (newer.last_name, newer.company, newer.phone, newer.score) == ("Lovelace", "", "+44 1", 5)
    candidate.refresh_from_db()
    assert candidate.status == DuplicateCandidate.Status.MERGED
    assert "No duplicates waiting" in owner_client.get(response["Location"]).content.decode()


def test_invalid_merge_form_shows_the_page_again(owner_client, org, candidate):
    response = owner_client.post(url("quality_duplicate_merge", org, candidate.pk), {"survivor": "c"})
    assert response.status_code == 400
    assert "Choose the record to keep" in response.content.decode()
    assert not Merge.objects.exists()


def test_merging_a_pair_twice_says_why(owner_client, org, candidate, merge):
    response = owner_client.post(
        url("quality_duplicate_merge", org, candidate.pk), {"survivor": "a"}, follow=True
    )
    assert "was already merged into lead" in response.content.decode()
    page = owner_client.get(url("quality_duplicate", org, candidate.pk)).content.decode()
    assert "Already merged" in page


def test_dismiss_from_the_queue(owner_client, org, candidate):
    response = owner_client.post(url("quality_duplicate_dismiss", org, candidate.pk), follow=True)
    assert "Marked as not a duplicate" in response.content.decode()
    candidate.refresh_from_db()
    assert candidate.status == DuplicateCandidate.Status.DISMISSED


def test_look_for_duplicates_now_enqueues_on_commit(owner_client, org, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = owner_client.post(url("quality_duplicates", org))
    assert response.status_code == 302 and len(callbacks) == 1


# --- Merges ------------------------------------------------------------------------------------------


def test_merge_history_and_undo(owner_client, org, merge, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        page = owner_client.get(url("quality_merges", org)).content.decode()
    assert "in effect" in page and url("quality_merge_undo", org, merge.pk) in page

    response = owner_client.post(url("quality_merge_undo", org, merge.pk), follow=True)
    assert "Merge undone" in response.content.decode()
    assert Lead.objects.filter(organization=org, merged_into__isnull=True).count() == 2

    response = owner_client.post(url("quality_merge_undo", org, merge.pk), follow=True)
    assert "This merge was already undone" in response.content.decode()


def test_blocked_undo_names_the_later_merge(owner_client, org, merge, make_lead):
    third = make_lead(email="third@acme.test")
    later = services.lead_merge(org=org, survivor=third, merged=merge.survivor)
    page = owner_client.get(url("quality_merges", org)).content.decode()
    assert f"Undo merge #{later.pk} first." in page


# --- Sources -------------------------------------------------------------------------------------------


def test_create_map_one_click_delete_and_reapply(
    owner_client, org, make_lead, django_capture_on_commit_callbacks
):
    make_lead(email="a@x.test", source="li")
    response = owner_client.post(
        url("quality_sources", org),
        {"raw_value": "LinkedIn Ads", "channel": "Paid Social", "source_name": "LinkedIn"},
    )
    assert response.status_code == 302
    page = owner_client.get(url("quality_sources", org)).content.decode()
    assert "<code>linkedin ads</code>" in page and '<option value="Paid Social">' in page
    assert 'name="raw_value" value="li"' in page  # one-click map form for the unmapped value

    owner_client.post(url("quality_sources", org), {"raw_value": "li", "channel": "Paid Social"})
    assert set(SourceMapping.objects.for_org(org).values_list("raw_value", flat=True)) == {
        "linkedin ads",
        "li",
    }

    duplicate = owner_client.post(url("quality_sources", org), {"raw_value": "LI", "channel": "Social"})
    assert duplicate.status_code == 400 and "already mapped to Paid Social" in duplicate.content.decode()

    with django_capture_on_commit_callbacks() as callbacks:
        owner_client.post(url("quality_sources_reapply", org))
    assert len(callbacks) == 1
    job = QualityJob.objects.get(organization=org, kind=QualityJob.Kind.SOURCES_REAPPLY)
    page = owner_client.get(url("quality_sources", org)).content.decode()
    assert "Waiting for a worker" in page and 'hx-trigger="every 2s"' in page
    fragment = owner_client.get(url("quality_sources", org) + "?fragment=jobs", HTTP_HX_REQUEST="true")
    assert fragment.content.decode().lstrip().startswith('<div id="quality-jobs-sources_reapply"')
    services.job_run(org_id=org.pk, job_id=job.pk)
    fragment = owner_client.get(url("quality_sources", org) + "?fragment=jobs", HTTP_HX_REQUEST="true")
    assert "Rows changed: leads 1, touchpoints 0." in fragment.content.decode()
    assert "hx-trigger" not in fragment.content.decode()  # polling stops when the job is done

    mapping = SourceMapping.objects.get(organization=org, raw_value="li")
    owner_client.post(url("quality_source_delete", org, mapping.pk))
    assert not SourceMapping.objects.filter(pk=mapping.pk).exists()


# --- Completeness ----------------------------------------------------------------------------------------


def test_completeness_page_shows_defaults_then_saves_and_deletes(owner_client, org):
    page = owner_client.get(url("quality_completeness", org)).content.decode()
    assert page.count('<span class="badge">defaults</span>') == 3

    response = owner_client.post(
        url("quality_completeness", org),
        {"object_type": "lead", "lead-object_type": "lead", "lead-field": "title", "lead-weight": 4},
    )
    assert response.status_code == 302
    rule = CompletenessRule.objects.get(organization=org, object_type="lead", field="title")
    assert (rule.weight, rule.required) == (4, False)
    assert QualityJob.objects.filter(organization=org, kind="completeness", object_type="lead").exists()

    page = owner_client.get(url("quality_completeness", org)).content.decode()
    assert page.count('<span class="badge">defaults</span>') == 2
    assert url("quality_completeness_delete", org, rule.pk) in page

    owner_client.post(url("quality_completeness_delete", org, rule.pk))
    assert not CompletenessRule.objects.filter(pk=rule.pk).exists()


def test_completeness_form_errors_are_shown(owner_client, org):
    response = owner_client.post(
        url("quality_completeness", org),
        {
            "object_type": "account",
            "account-object_type": "account",
            "account-field": "industry",
            "account-weight": 0,
        },
    )
    assert response.status_code == 400
    assert "greater than or equal to 1" in response.content.decode()


def test_edit_link_prefills_the_form(owner_client, org):
    page = owner_client.get(url("quality_completeness", org) + "?type=lead&field=phone&weight=7&required=1")
    html = page.content.decode()
    assert 'name="lead-weight" value="7"' in html
    assert '<option value="phone" selected>' in html


def test_records_api_still_answers_with_the_merge_route(api, org, candidate):
    response = api.post(
        reverse("api-lead-merge", kwargs={"pk": candidate.other_id}),
        {"other": candidate.lead_id},
        format="json",
    )
    assert response.status_code == 200
    assert records.find_lead_for_upsert(org, match_on="email", values={"email": "ada@acme.test"}).pk == (
        candidate.other_id
    )


@pytest.mark.parametrize("name, queries", [("quality_sources", 8), ("quality_completeness", 7)])
def test_configuration_pages_pin_their_query_counts(
    name, queries, owner_client, org, make_lead, django_assert_max_num_queries
):
    for n in range(20):
        make_lead(email=f"s{n}@x.test", source=f"raw{n}")
    services.source_mapping_create(org=org, raw_value="raw1", channel="Paid Social")
    services.completeness_rule_create(org=org, object_type="lead", field="utm_campaign", weight=2)
    owner_client.get(url(name, org))
    with django_assert_max_num_queries(queries):
        assert owner_client.get(url(name, org)).status_code == 200


def test_merge_history_can_show_one_merge_for_links_from_the_audit_trail(owner_client, org, merge, make_lead):
    other = services.lead_merge(
        org=org, survivor=make_lead(email="x@acme.test"), merged=make_lead(email="y@x.test")
    )
    page = owner_client.get(url("quality_merges", org) + f"?merge={merge.pk}").content.decode()
    assert f'id="merge-{merge.pk}"' in page and f'id="merge-{other.pk}"' not in page
