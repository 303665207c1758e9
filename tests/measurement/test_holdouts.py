"""The incrementality register: holdout tests validated by their services, their lift served by the
API with hand-checked numbers, the attributed credit shown beside it, and the register's pages."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.measurement.models import AttributionDay, HoldoutTest
from apps.measurement.services import holdouts as services
from apps.quality.services import source_mapping_create
from tests import factories
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

LIST = "/api/v1/holdout-tests/"


def detail(pk):
    return f"/api/v1/holdout-tests/{pk}/"


def make_test(org, **fields):
    values = {
        "name": "LinkedIn retargeting",
        "channel": "Paid Social",
        "period_start": date(2026, 3, 1),
        "period_end": date(2026, 3, 31),
        "treatment_size": 1000,
        "treatment_conversions": 150,
        "control_size": 1000,
        "control_conversions": 80,
    }
    values.update(fields)
    return services.holdout_create(org=org, **values)


# --- Services ------------------------------------------------------------------------------------


def test_create_normalises_and_defaults(org):
    source_mapping_create(org=org, raw_value="linkedin", channel="Paid Social")
    test = make_test(org, name="  Retargeting   Q1 ", channel="linkedin")
    assert (test.name, test.channel, test.conversion_event) == (
        "Retargeting Q1",
        "Paid Social",
        "opportunity created",
    )


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": " "}, "name", "Give the test a name."),
        (
            {"period_end": date(2026, 2, 1)},
            "period_end",
            "The test ends (2026-02-01) before it starts (2026-03-01).",
        ),
        (
            {"treatment_size": 0, "treatment_conversions": 0},
            "treatment_size",
            "The treatment group needs at least one member to have a conversion rate.",
        ),
        (
            {"control_conversions": 1001},
            "control_conversions",
            "1,001 conversions among only 1,000 members of the control group.",
        ),
        ({"treatment_conversions": -1}, "treatment_conversions", "A count cannot be negative."),
        ({"control_size": "many"}, "control_size", "Give a whole number."),
        ({"treatment_size": None}, "treatment_size", "This field is required."),
    ],
)
def test_invalid_tests_are_refused_naming_the_field(org, fields, field, message):
    with pytest.raises(ServiceError) as caught:
        make_test(org, **fields)
    assert (caught.value.field, caught.value.message) == (field, message)
    assert not HoldoutTest.objects.exists()


def test_update_checks_the_whole_test(org):
    test = make_test(org)
    with pytest.raises(ServiceError) as caught:
        services.holdout_update(org=org, test=test, control_size=50)
    assert caught.value.field == "control_conversions"
    test.refresh_from_db()
    assert test.control_size == 1000
    services.holdout_update(org=org, test=test, control_conversions=90, notes="Recounted")
    test.refresh_from_db()
    assert (test.control_conversions, test.notes, test.treatment_conversions) == (90, "Recounted", 150)


def test_rows_compare_lift_with_attributed_credit(org):
    test = make_test(org, campaign="retarget")
    untargeted = make_test(org, name="Whole channel", campaign="")
    no_channel = make_test(org, name="Newsletter", channel="")
    facts = [
        # (day, model, channel, campaign, opportunities)
        (date(2026, 3, 5), "linear", "Paid Social", "retarget", "2.5"),
        (date(2026, 3, 20), "linear", "Paid Social", "RETARGET", "1.25"),
        (date(2026, 3, 20), "last_touch", "Paid Social", "retarget", "3"),
        (date(2026, 3, 20), "linear", "Paid Social", "brand", "4"),  # another campaign
        (date(2026, 4, 1), "linear", "Paid Social", "retarget", "7"),  # after the test
        (date(2026, 3, 20), "linear", "Paid Search", "retarget", "9"),  # another channel
    ]
    AttributionDay.objects.bulk_create(
        AttributionDay(organization=org, day=d, model=m, channel=c, campaign=k, opportunities=Decimal(o))
        for d, m, c, k, o in facts
    )
    rows = {row.test.pk: row for row in services.holdout_rows(org=org, tests=[test, untargeted, no_channel])}
    # Last touch comes before linear, as attribution lists its models.
    assert [(a.label, a.opportunities) for a in rows[test.pk].attributed] == [
        ("Last touch", Decimal("3")),
        ("Linear", Decimal("3.75")),
    ]
    assert [(a.label, a.opportunities) for a in rows[untargeted.pk].attributed] == [
        ("Last touch", Decimal("3")),
        ("Linear", Decimal("7.75")),
    ]
    assert rows[no_channel.pk].attributed == []
    # 150/1000 - 80/1000 = 0.07 more conversions per person, times 1,000 treated people.
    assert rows[test.pk].incremental == pytest.approx(70)


# --- API -----------------------------------------------------------------------------------------

PAYLOAD = {
    "name": "LinkedIn retargeting",
    "channel": "Paid Social",
    "period_start": "2026-03-01",
    "period_end": "2026-03-31",
    "treatment_size": 1000,
    "treatment_conversions": 150,
    "control_size": 1000,
    "control_conversions": 80,
}


def test_api_create_serves_the_lift(api, org):
    response = api.post(LIST, PAYLOAD, format="json")
    assert response.status_code == 201, response.content
    lift = response.json()["lift"]
    assert lift["treatment_rate"] == pytest.approx(0.15)
    assert lift["control_rate"] == pytest.approx(0.08)
    assert lift["difference"] == pytest.approx(0.07)
    # Wilson 95 % intervals (z = 1.959964): treatment [0.129210, 0.173468], control [0.064748, 0.098466].
    # Newcombe: 0.07 - sqrt((0.15 - 0.129210)^2 + (0.098466 - 0.08)^2) = 0.07 - 0.027807 = 0.042193,
    #           0.07 + sqrt((0.173468 - 0.15)^2 + (0.08 - 0.064748)^2) = 0.07 + 0.027989 = 0.097989.
    assert lift["difference_ci"] == pytest.approx([0.042193, 0.097989], abs=1e-5)
    # Relative: 0.15 / 0.08 - 1 = 0.875; Katz: se = sqrt(1/150 - 1/1000 + 1/80 - 1/1000) = 0.131022,
    # exp(ln 1.875 -/+ 1.959964 * 0.131022) - 1 = 0.450359 and 1.423969.
    assert lift["relative_lift"] == pytest.approx(0.875)
    assert lift["relative_lift_ci"] == pytest.approx([0.450359, 1.423969], abs=1e-5)
    # Pooled p = 230/2000 = 0.115; se = sqrt(0.115 * 0.885 * 2/1000) = 0.0142671; z = 0.07 / se = 4.9064.
    assert lift["p_value"] == pytest.approx(9.28e-7, rel=1e-2)
    assert (lift["verdict"], lift["confidence"]) == ("positive", 0.95)
    assert response.json()["conversion_event"] == "opportunity created"


def test_api_inconclusive_and_undefined_relative_lift(api):
    # 100/1000 vs 80/1000: pooled 0.09, se = sqrt(0.09 * 0.91 * 0.002) = 0.0127980, z = 1.5627, p = 0.1181.
    close = api.post(LIST, {**PAYLOAD, "treatment_conversions": 100}, format="json").json()["lift"]
    assert close["p_value"] == pytest.approx(0.1181, abs=1e-4)
    assert close["verdict"] == "inconclusive"
    assert close["difference_ci"][0] < 0 < close["difference_ci"][1]
    # No control conversion: the ratio of rates is undefined.
    none = api.post(LIST, {**PAYLOAD, "control_conversions": 0}, format="json").json()["lift"]
    assert (none["relative_lift"], none["relative_lift_ci"]) == (None, None)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"treatment_conversions": 1001},
            "treatment_conversions",
            "1,001 conversions among only 1,000 members of the treatment group.",
        ),
        ({"control_size": 0}, "control_size", "Ensure this value is greater than or equal to 1."),
        (
            {"period_end": "2026-02-01"},
            "period_end",
            "The test ends (2026-02-01) before it starts (2026-03-01).",
        ),
        ({"lift": 3}, "lift", "Unknown field."),
    ],
)
def test_api_errors_name_the_field(api, change, field, message):
    response = api.post(LIST, {**PAYLOAD, **change}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [message]}
    assert not HoldoutTest.objects.exists()


def test_api_put_patch_delete(api, org):
    test = make_test(org, hypothesis="More demos", campaign="retarget")
    patched = api.patch(detail(test.pk), {"control_conversions": 100}, format="json")
    assert patched.status_code == 200, patched.content
    assert (patched.json()["control_conversions"], patched.json()["campaign"]) == (100, "retarget")
    assert patched.json()["lift"]["difference"] == pytest.approx(0.05)
    # PUT states the whole test: what it leaves out returns to its default.
    put = api.put(detail(test.pk), {**PAYLOAD, "name": "Renamed"}, format="json")
    assert put.status_code == 200, put.content
    assert (put.json()["name"], put.json()["hypothesis"], put.json()["campaign"]) == ("Renamed", "", "")
    listed = api.get(LIST).json()["results"]
    assert [row["id"] for row in listed] == [test.pk]
    assert api.delete(detail(test.pk)).status_code == 204
    assert not HoldoutTest.objects.exists()


def test_api_never_reaches_another_organisations_tests(org, outsider_api):
    test = make_test(org, name="Secret holdout")
    for method in ("get", "put", "patch", "delete"):
        assert getattr(outsider_api, method)(detail(test.pk), PAYLOAD, format="json").status_code == 404
    assert outsider_api.get(LIST).json()["results"] == []
    test.refresh_from_db()
    assert test.name == "Secret holdout"


def test_api_list_query_count_is_pinned(api, org, django_assert_max_num_queries):
    for name in ("A", "B", "C"):
        make_test(org, name=name)
    api.get(LIST)  # the key is read once, then served from the cache
    with django_assert_max_num_queries(1):  # the page; the lift is computed from the row
        response = api.get(LIST)
    assert [row["name"] for row in response.json()["results"]] == ["C", "B", "A"]


def test_api_needs_the_write_scope(org):
    reader = api_client_for(org, scopes=("read",))
    assert reader.post(LIST, PAYLOAD, format="json").status_code == 403


# --- Pages ---------------------------------------------------------------------------------------


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


def login(client, org, role):
    client.force_login(factories.make_member(org, role=role).user)
    return client


def test_empty_register_says_what_to_do(owner_client, org):
    page = owner_client.get(url("measurement_holdouts", org)).content.decode()
    assert "No holdout tests yet" in page
    assert url("measurement_holdout_new", org) in page


def test_register_shows_lift_interval_and_verdict(owner_client, org, django_assert_max_num_queries):
    make_test(org)
    make_test(org, name="Webinars", channel="Events", treatment_conversions=100)
    # Session, user, membership, navigation, the tests, and one query for every test's attributed credit.
    with django_assert_max_num_queries(6):
        response = owner_client.get(url("measurement_holdouts", org))
    page = response.content.decode()
    assert response.status_code == 200
    # 15.00 % vs 8.00 %: +7.00 points, 95 % CI +4.22 to +9.80; relative +87.5 % (+45.0 % to +142.4 %).
    for text in (
        "15.00%",
        "8.00%",
        "+7.00",
        "+4.22 to +9.80",
        "+87.5 %",
        "+45.0 % to +142.4 %",
        "&lt; 0.001",
    ):
        assert text in page, text
    assert ">positive<" in page and ">inconclusive<" in page
    # Incremental conversions: 0.07 * 1000 = 70.0, interval 42.2 to 98.0.
    assert "70.0" in page and "42.2 to 98.0" in page


def test_viewer_reads_the_register_but_cannot_change_it(client, org):
    test = make_test(org)
    viewer = login(client, org, Role.SALES_REP)
    page = viewer.get(url("measurement_holdouts", org)).content.decode()
    assert "LinkedIn retargeting" in page
    assert url("measurement_holdout_edit", org, test.pk) not in page
    assert viewer.get(url("measurement_holdout_new", org)).status_code == 403
    assert viewer.post(url("measurement_holdout_delete", org, test.pk)).status_code == 403
    assert HoldoutTest.objects.filter(pk=test.pk).exists()


def test_marketer_records_edits_and_deletes_a_test(client, org):
    marketer = login(client, org, Role.MARKETER)
    form = {**PAYLOAD, "campaign": "", "hypothesis": "", "conversion_event": "", "notes": ""}
    created = marketer.post(url("measurement_holdout_new", org), form)
    assert created.status_code == 302
    test = HoldoutTest.objects.get(organization=org)
    assert (test.treatment_conversions, test.conversion_event) == (150, "opportunity created")
    page = marketer.get(url("measurement_holdout_edit", org, test.pk)).content.decode()
    assert "Treatment converted at 15.00% and control at 8.00%" in page
    refused = marketer.post(
        url("measurement_holdout_edit", org, test.pk), {**form, "control_conversions": 2000}
    )
    assert refused.status_code == 400
    assert "2,000 conversions among only 1,000 members of the control group." in refused.content.decode()
    saved = marketer.post(url("measurement_holdout_edit", org, test.pk), {**form, "control_conversions": 90})
    assert saved.status_code == 302
    test.refresh_from_db()
    assert test.control_conversions == 90
    assert marketer.post(url("measurement_holdout_delete", org, test.pk)).status_code == 302
    assert not HoldoutTest.objects.exists()
