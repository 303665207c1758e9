"""The spend ledger: validation, channel vocabulary, batches and CSV import that never half-apply,
the month spread behind the totals, the API (single, list, idempotent repeats, filters, field errors,
tenancy) and the pages (ledger, forms, export, import)."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.accounts.roles import Role
from apps.audit.models import SecurityEvent
from apps.core.errors import ServiceError
from apps.measurement.models import SpendEntry
from apps.measurement.services import spend as services
from apps.measurement.services import spend_import as importing
from apps.quality.services import source_mapping_create
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

D = Decimal


def entry(org, **fields):
    values = {
        "channel": "Paid Search",
        "period_start": date(2026, 3, 1),
        "period_end": date(2026, 3, 31),
        "amount": D("310.00"),
    }
    values.update(fields)
    return services.spend_create(org=org, **values)


def upload(text: str, name="spend.csv"):
    return SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv")


def run_import(org, text: str, **kwargs):
    return importing.spend_import(org=org, file=upload(text), file_name="spend.csv", **kwargs)


# --- Cleaning ------------------------------------------------------------------------------------


def test_channels_take_the_spelling_of_source_mappings(org):
    source_mapping_create(org=org, raw_value="linkedin", channel="Paid Social")
    assert entry(org, channel="  paid   SOCIAL ").channel == "Paid Social"
    # A raw source a mapping knows is recorded under its channel.
    assert entry(org, channel="LinkedIn").channel == "Paid Social"
    # A channel nobody maps is kept as typed; later entries follow the ledger's spelling.
    assert entry(org, channel=" Podcasts ").channel == "Podcasts"
    assert entry(org, channel="podcasts").channel == "Podcasts"


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"channel": "  "}, "channel", "Name the channel"),
        ({"period_end": date(2026, 2, 28)}, "period_end", "before it starts"),
        ({"amount": D("-1")}, "amount", "cannot be negative"),
        ({"amount": D("10.005")}, "amount", "two decimals"),
        ({"amount": D("1000000000000")}, "amount", "At most"),
        ({"type": "billboards"}, "type", "use one of: media, tools, people, events, other"),
        ({"period_start": "2026-02-30"}, "period_start", "not a day of the calendar"),
        ({"note": "x" * 301}, "note", "At most 300"),
    ],
)
def test_invalid_entries_are_refused_naming_the_field(org, fields, field, fragment):
    with pytest.raises(ServiceError) as caught:
        entry(org, **fields)
    assert caught.value.field == field
    assert fragment in caught.value.message
    assert not SpendEntry.objects.exists()


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1234.5", D("1234.50")),
        ("1,234.50", D("1234.50")),
        ("1.234,50", D("1234.50")),
        ("1 234,50", D("1234.50")),
        ("12,5", D("12.50")),
        ("1,234", D("1234.00")),
        ("€99", D("99.00")),
        ("0", D("0.00")),
    ],
)
def test_amounts_read_as_spreadsheets_write_them(text, amount):
    assert services.clean_amount(text) == amount


def test_type_accepts_labels_and_common_names(org):
    assert entry(org, type="Software").type == "tools"
    assert entry(org, type="EVENTS").type == "events"
    assert entry(org).type == "media"


def test_partial_update_checks_the_whole_entry(org):
    spend = entry(org, note="March")
    with pytest.raises(ServiceError) as caught:
        services.spend_update(org=org, entry=spend, period_start=date(2026, 4, 1))
    assert caught.value.field == "period_end"
    spend.refresh_from_db()
    assert spend.period_start == date(2026, 3, 1)
    services.spend_update(org=org, entry=spend, amount="400", note="")
    spend.refresh_from_db()
    assert (spend.amount, spend.note, spend.channel) == (D("400.00"), "", "Paid Search")


def test_an_external_id_belongs_to_one_entry(org):
    first = entry(org, external_id="INV-1")
    with pytest.raises(ServiceError) as caught:
        entry(org, external_id="INV-1")
    assert caught.value.field == "external_id"
    other = entry(org, external_id="INV-2")
    with pytest.raises(ServiceError):
        services.spend_update(org=org, entry=other, external_id="INV-1")
    assert SpendEntry.objects.get(external_id="INV-1").pk == first.pk


def test_writes_are_audited(org, owner):
    import pghistory

    with pghistory.context(actor_email=owner.email):
        spend = entry(org, external_id="INV-1")
        services.spend_update(org=org, entry=spend, amount="500")
    events = list(pghistory.models.Events.objects.tracks(spend).order_by("pgh_id"))
    assert [e.pgh_label for e in events] == ["insert", "update"]
    assert [D(str(value)) for value in events[1].pgh_diff["amount"]] == [D("310"), D("500")]
    assert events[1].pgh_context["actor_email"] == owner.email


# --- Batches -------------------------------------------------------------------------------------


def test_batch_upsert_is_idempotent_by_external_id(org):
    items = [
        {"channel": "Paid Search", "period_start": "2026-03-01", "period_end": "2026-03-31", "amount": "310",
         "external_id": "INV-1"},
        {"channel": "Events", "period_start": "2026-03-15", "period_end": "2026-03-15", "amount": "100",
         "type": "events"},
    ]  # fmt: skip
    first = services.spend_batch_upsert(org=org, items=items)
    assert [created for _, created in first] == [True, True]
    items[0]["amount"] = "320"
    second = services.spend_batch_upsert(org=org, items=items[:1])
    assert [created for _, created in second] == [False]
    assert second[0][0].pk == first[0][0].pk
    assert SpendEntry.objects.filter(organization=org).count() == 2
    assert SpendEntry.objects.get(external_id="INV-1").amount == D("320.00")


def test_a_batch_with_one_bad_item_writes_nothing(org):
    kept = entry(org, external_id="INV-1", amount=D("10"))
    items = [
        {"channel": "Paid Search", "period_start": "2026-03-01", "period_end": "2026-03-31", "amount": "999",
         "external_id": "INV-1"},
        {"channel": "", "period_start": "2026-03-01", "period_end": "2026-02-01", "amount": "5"},
        {"channel": "Events", "period_start": "2026-03-01", "period_end": "2026-03-01", "amount": "5",
         "external_id": "INV-1"},
    ]  # fmt: skip
    with pytest.raises(services.SpendRowsError) as caught:
        services.spend_batch_upsert(org=org, items=items)
    assert caught.value.fields == {
        "1.channel": ["Name the channel, e.g. Paid Social."],
        "1.period_end": ["The period ends (2026-02-01) before it starts (2026-03-01)."],
        "2.external_id": ["Also in item 0; send each entry once."],
    }
    kept.refresh_from_db()
    assert kept.amount == D("10.00")
    assert SpendEntry.objects.filter(organization=org).count() == 1


# --- CSV import ----------------------------------------------------------------------------------


def test_import_reads_header_variants_and_upserts_by_reference(org, owner):
    import pghistory

    text = (
        "Channel,Campaign,Type,Start,End,Cost,Notes,Reference,Unused\r\n"
        'paid search,spring-launch,media,2026-03-01,2026-03-31,"4,200.00",March invoice,INV-0312,x\r\n'
        "Events,,Sponsorship,2026-03-15,2026-03-15,1500,,,\r\n"
    )
    result = run_import(org, text, actor=owner)
    assert (result.rows, result.created, result.updated, result.ignored_columns) == (2, 2, 0, ["Unused"])
    march = SpendEntry.objects.get(organization=org, external_id="INV-0312")
    assert (march.channel, march.campaign_ref, march.type, march.amount, march.note) == (
        "paid search", "spring-launch", "media", D("4200.00"), "March invoice",
    )  # fmt: skip
    assert (march.period_start, march.period_end, march.created_by) == (
        date(2026, 3, 1),
        date(2026, 3, 31),
        owner,
    )
    event = SpendEntry.objects.get(organization=org, external_id=None)
    assert (event.channel, event.type, event.amount) == ("Events", "events", D("1500.00"))
    inserted = pghistory.models.Events.objects.tracks(march).get(pgh_label="insert")
    assert inserted.pgh_context["spend_import"] == "spend.csv"

    # The same file again: the referenced row updates, the unreferenced one is new again.
    again = run_import(org, text.replace("4,200.00", "4,300.00"))
    assert (again.created, again.updated) == (1, 1)
    assert SpendEntry.objects.get(organization=org, external_id="INV-0312").amount == D("4300.00")
    assert SpendEntry.objects.filter(organization=org).count() == 3


def test_import_checks_every_row_and_writes_nothing_on_any_problem(org):
    kept = entry(org, external_id="INV-1", amount=D("10"))
    text = (
        "channel,period_start,period_end,amount,type,external_id\n"
        "Paid Search,2026-03-01,2026-03-31,999,media,INV-1\n"  # row 2: valid, would update INV-1
        "Paid Search,2026-03-01,2026-03-31,-5,media,\n"  # row 3: negative amount
        ",2026-04-10,2026-04-01,12.345,billboards,\n"  # row 4: four problems
        "Events,2026-03-01,2026-03-01,5,events,INV-1\n"  # row 5: INV-1 twice
        "Events,13/03/2026,2026-03-13,5,,\n"  # row 6: not an ISO date
    )
    with pytest.raises(services.SpendRowsError) as caught:
        run_import(org, text)
    assert caught.value.problems == [
        (3, "amount", "An amount cannot be negative; lower the entry a refund belongs to instead."),
        (4, "channel", "Name the channel, e.g. Paid Social."),
        (4, "type", "“billboards” is not a spend type; use one of: media, tools, people, events, other."),
        (4, "amount", "Use at most two decimals (cents)."),
        (4, "period_end", "The period ends (2026-04-01) before it starts (2026-04-10)."),
        (5, "external_id", "Also on row 2; list each entry once."),
        (6, "period_start", "“13/03/2026” is not a date; write it as YYYY-MM-DD."),
    ]
    kept.refresh_from_db()
    assert kept.amount == D("10.00")
    assert SpendEntry.objects.filter(organization=org).count() == 1


def test_import_date_and_month_columns(org):
    run_import(org, "channel,date,amount\nEvents,2026-05-04,250\n")
    day = SpendEntry.objects.get(organization=org, channel="Events")
    assert (day.period_start, day.period_end) == (date(2026, 5, 4), date(2026, 5, 4))
    run_import(org, "channel,month,spend\nPaid Search,2026-02,2800\n")
    month = SpendEntry.objects.get(organization=org, channel="Paid Search")
    assert (month.period_start, month.period_end, month.amount) == (
        date(2026, 2, 1),
        date(2026, 2, 28),
        D("2800"),
    )
    with pytest.raises(services.SpendRowsError) as caught:
        run_import(org, "channel,month,spend\nPaid Search,2026-13,1\nPaid Search,,1\n")
    assert caught.value.problems == [
        (2, "month", "“2026-13” is not a month; write it as YYYY-MM."),
        (3, "month", "Give the month (YYYY-MM)."),
    ]


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (
            "channel,period_start,period_end",
            (1, "amount", "No amount column (also read as: cost, spend, amount spent, spent)."),
        ),
        (
            "channel,start,amount",
            (1, "period_end", "No period_end column: a period needs both its start and its end."),
        ),
        (
            "channel,date,month,amount",
            (1, "date", "Give the period one way only: period_start/period_end, date or month."),
        ),
        ("channel,cost,spend,date", (1, "spend", "Both “cost” and “spend” would give the amount; keep one.")),
    ],
)
def test_import_refuses_a_header_it_cannot_read(org, header, problem):
    with pytest.raises(services.SpendRowsError) as caught:
        run_import(org, header + "\n" + ",".join(["x"] * len(header.split(","))) + "\n")
    assert caught.value.problems == [problem]


def test_import_refuses_another_currency_and_oversized_files(org, monkeypatch):
    with pytest.raises(services.SpendRowsError) as caught:
        run_import(
            org, "channel,date,amount,currency\nEvents,2026-05-04,250,usd\nEvents,2026-05-04,250,EUR\n"
        )
    assert caught.value.problems == [(3, "currency", "The ledger is in USD; convert EUR amounts first.")]
    monkeypatch.setattr(importing, "IMPORT_MAX_BYTES", 40)
    with pytest.raises(ServiceError) as caught:
        run_import(org, "channel,date,amount\nEvents,2026-05-04,250\nEvents,2026-05-05,250\n")
    assert caught.value.field == "file"
    with pytest.raises(ServiceError) as caught:
        importing.spend_import(org=org, file=upload(""), file_name="empty.csv")
    assert "empty" in caught.value.message
    assert not SpendEntry.objects.exists()


# --- Totals --------------------------------------------------------------------------------------


def test_spread_by_month_keeps_every_cent():
    # 900.00 over 15 Jan - 14 Mar 2026: 17 + 28 + 14 = 59 days. Running totals rounded to cents:
    # 900 * 17/59 = 259.322... -> 259.32; 900 * 45/59 = 686.440... -> 686.44; 900 * 59/59 = 900.00.
    shares = services.spread_by_month(D("900.00"), date(2026, 1, 15), date(2026, 3, 14))
    assert shares == {
        date(2026, 1, 1): D("259.32"),
        date(2026, 2, 1): D("427.12"),
        date(2026, 3, 1): D("213.56"),
    }
    assert sum(shares.values()) == D("900.00")
    # February alone: 686.44 - 259.32.
    feb = services.spread_by_month(
        D("900.00"), date(2026, 1, 15), date(2026, 3, 14), within=(date(2026, 2, 1), date(2026, 2, 28))
    )
    assert feb == {date(2026, 2, 1): D("427.12")}
    assert (
        services.spread_by_month(D("5"), date(2026, 1, 1), date(2026, 1, 31), within=(date(2026, 2, 1), None))
        == {}
    )


@pytest.fixture
def ledger(org):
    """Paid Search 310.00 over March (10.00 a day), 910.00 over Q2 (91 days: 10.00 a day),
    Events 100.00 on 15 March."""
    return [
        entry(org, campaign="spring"),
        entry(org, period_start=date(2026, 4, 1), period_end=date(2026, 6, 30), amount=D("910.00")),
        entry(
            org,
            channel="Events",
            type="events",
            period_start=date(2026, 3, 15),
            period_end=date(2026, 3, 15),
            amount=D("100.00"),
        ),
    ]


def test_totals_by_channel_and_month(org, ledger):
    totals = services.spend_totals(org=org)
    assert totals.total == D("1320.00")
    assert totals.by_channel == [("Paid Search", D("1220.00")), ("Events", D("100.00"))]
    assert totals.by_month == [
        (date(2026, 3, 1), D("410.00")),
        (date(2026, 4, 1), D("300.00")),
        (date(2026, 5, 1), D("310.00")),
        (date(2026, 6, 1), D("300.00")),
    ]
    # 20 March - 10 April: 12 March days of the March entry (120.00) and 10 April days of Q2 (100.00);
    # the Events day (15 March) lies outside.
    window = services.SpendFilters(start=date(2026, 3, 20), end=date(2026, 4, 10))
    assert [e.pk for e in services.spend_entries(org=org, filters=window).order_by("id")] == [
        ledger[0].pk, ledger[1].pk,
    ]  # fmt: skip
    totals = services.spend_totals(org=org, filters=window)
    assert totals.by_channel == [("Paid Search", D("220.00"))]
    assert totals.by_month == [(date(2026, 3, 1), D("120.00")), (date(2026, 4, 1), D("100.00"))]


# --- API -----------------------------------------------------------------------------------------

LIST = "/api/v1/spend/"


def detail(pk):
    return f"/api/v1/spend/{pk}/"


PAYLOAD = {
    "channel": "paid search",
    "campaign": "spring",
    "type": "media",
    "period_start": "2026-03-01",
    "period_end": "2026-03-31",
    "amount": "310.00",
    "external_id": "INV-1",
}


def test_api_create_then_repeat_updates(api, org):
    response = api.post(LIST, PAYLOAD, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in ("channel", "campaign", "type", "amount", "days", "external_id", "note")} == {
        "channel": "paid search", "campaign": "spring", "type": "media", "amount": "310.00", "days": 31,
        "external_id": "INV-1", "note": "",
    }  # fmt: skip
    again = api.post(LIST, {**PAYLOAD, "amount": "320.50"}, format="json")
    assert again.status_code == 200, again.content
    assert again.json()["id"] == body["id"]
    assert again.json()["amount"] == "320.50"
    assert SpendEntry.objects.filter(organization=org).count() == 1


def test_api_bulk_list_is_idempotent(api, org):
    items = [PAYLOAD, {**PAYLOAD, "external_id": "INV-2", "channel": "Events", "amount": "100"}]
    first = api.post(LIST, items, format="json")
    assert first.status_code == 201, first.content
    assert (first.json()["created"], first.json()["updated"]) == (2, 0)
    assert [r["external_id"] for r in first.json()["results"]] == ["INV-1", "INV-2"]
    second = api.post(LIST, items, format="json")
    assert second.status_code == 200
    assert (second.json()["created"], second.json()["updated"]) == (0, 2)
    assert SpendEntry.objects.filter(organization=org).count() == 2


def test_api_bulk_refuses_the_whole_list_naming_items_and_fields(api, org):
    items = [PAYLOAD, {**PAYLOAD, "external_id": "INV-2", "amount": "-1"}]
    response = api.post(LIST, items, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "1.amount": ["Ensure this value is greater than or equal to 0."]
    }
    later = api.post(LIST, [{**PAYLOAD, "period_end": "2026-02-01"}], format="json")
    assert later.status_code == 400
    assert later.json()["error"]["fields"] == {
        "0.period_end": ["The period ends (2026-02-01) before it starts (2026-03-01)."]
    }
    assert not SpendEntry.objects.filter(organization=org).exists()
    assert api.post(LIST, [], format="json").status_code == 400


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"channel": None}, "channel", "This field is required."),
        ({"channel": "  "}, "channel", "Name the channel, e.g. Paid Social."),
        (
            {"type": "billboards"},
            "type",
            "“billboards” is not a spend type; use one of: media, tools, people, events, other.",
        ),
        ({"amount": "1.234"}, "amount", "Ensure that there are no more than 2 decimal places."),
        (
            {"period_end": "2026-02-01"},
            "period_end",
            "The period ends (2026-02-01) before it starts (2026-03-01).",
        ),
        ({"colour": "red"}, "colour", "Unknown field."),
    ],
)
def test_api_errors_name_the_field_and_why(api, change, field, message):
    payload = {**PAYLOAD, **change}
    payload = {k: v for k, v in payload.items() if v is not None}
    response = api.post(LIST, payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {field: [message]}


def test_api_filters(api, org, ledger):
    def ids(query):
        response = api.get(LIST + query)
        assert response.status_code == 200, response.content
        return sorted(row["id"] for row in response.json()["results"])

    march, q2, events = (e.pk for e in ledger)
    assert ids("") == sorted([march, q2, events])
    assert ids("?channel=paid%20SEARCH") == sorted([march, q2])
    assert ids("?type=events") == [events]
    assert ids("?campaign=SPRING") == [march]
    # Entries overlapping the range: Q2 ends after 31 March, March ends after 20 March.
    assert ids("?from=2026-03-20&to=2026-04-10") == sorted([march, q2])
    assert ids("?from=2026-04-01") == [q2]
    assert ids("?to=2026-03-14") == [march]
    bad = api.get(LIST + "?from=yesterday")
    assert bad.status_code == 400 and "from" in bad.json()["error"]["fields"]
    backwards = api.get(LIST + "?from=2026-04-01&to=2026-03-01")
    assert backwards.json()["error"]["fields"] == {"to": ["The period ends before it starts."]}
    typo = api.get(LIST + "?chanel=Events")
    assert typo.json()["error"]["fields"] == {"chanel": ["Unknown filter."]}


def test_api_list_query_count_is_pinned(api, org, ledger, django_assert_max_num_queries):
    api.get(LIST)  # the key is read once, then served from the cache
    with django_assert_max_num_queries(1):  # the page
        response = api.get(LIST + "?channel=Paid%20Search")
    assert response.status_code == 200


def test_api_patch_and_delete(api, org, ledger):
    march = ledger[0]
    response = api.patch(detail(march.pk), {"amount": "300", "note": "credit applied"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["amount"], response.json()["note"], response.json()["period_end"]) == (
        "300.00", "credit applied", "2026-03-31",
    )  # fmt: skip
    refused = api.patch(detail(march.pk), {"period_end": "2026-02-01"}, format="json")
    assert refused.status_code == 400
    assert list(refused.json()["error"]["fields"]) == ["period_end"]
    assert api.put(detail(march.pk), PAYLOAD, format="json").status_code == 405
    assert api.delete(detail(march.pk)).status_code == 204
    assert not SpendEntry.objects.filter(pk=march.pk).exists()


def test_api_needs_the_write_scope(org):
    reader = api_client_for(org, scopes=("read",))
    assert reader.get(LIST).status_code == 200
    assert reader.post(LIST, PAYLOAD, format="json").status_code == 403
    assert not SpendEntry.objects.exists()


def test_api_never_reaches_another_organisations_entries(org, other_org, outsider_api, ledger):
    victim = entry(org, external_id="INV-1", amount=D("10"), note="Secret invoice")
    assert outsider_api.get(detail(victim.pk)).status_code == 404
    assert outsider_api.patch(detail(victim.pk), {"amount": "0"}, format="json").status_code == 404
    assert outsider_api.delete(detail(victim.pk)).status_code == 404
    assert outsider_api.get(LIST).json()["results"] == []
    # The victim's external id, posted by the outsider, makes an entry of the outsider's own.
    response = outsider_api.post(LIST, PAYLOAD, format="json")
    assert response.status_code == 201
    listed = outsider_api.post(LIST, [PAYLOAD], format="json")
    assert listed.json()["updated"] == 1
    victim.refresh_from_db()
    assert (victim.organization_id, victim.amount, victim.note) == (org.pk, D("10.00"), "Secret invoice")
    assert SpendEntry.objects.filter(organization=other_org, external_id="INV-1").count() == 1


# --- Pages ---------------------------------------------------------------------------------------


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


def client_for(client, org, role):
    from tests import factories

    client.force_login(factories.make_member(org, role=role).user)
    return client


def test_empty_ledger_says_what_to_do(owner_client, org):
    response = owner_client.get(url("measurement_spend", org))
    assert response.status_code == 200
    assert "No spend recorded yet" in response.content.decode()
    assert url("measurement_spend_new", org) in response.content.decode()


def test_ledger_shows_totals_and_filters(owner_client, org, ledger, django_assert_max_num_queries):
    # Session, user, membership, navigation, channel picker (2), count and sum, the page, the totals.
    with django_assert_max_num_queries(9):
        response = owner_client.get(url("measurement_spend", org))
    page = response.content.decode()
    assert response.status_code == 200
    assert "1,320.00" in page and "1,220.00" in page and "410.00" in page
    assert 'data-chart="spend-by-month"' in page
    filtered = owner_client.get(url("measurement_spend", org) + "?channel=Events").content.decode()
    assert "100.00" in filtered and "1,220.00" not in filtered


def test_viewer_reads_but_cannot_change(client, org, ledger):
    viewer = client_for(client, org, Role.VIEWER)
    page = viewer.get(url("measurement_spend", org)).content.decode()
    assert "Paid Search" in page
    assert url("measurement_spend_new", org) not in page
    assert url("measurement_spend_export", org) not in page
    assert viewer.get(url("measurement_spend_new", org)).status_code == 403
    assert viewer.post(url("measurement_spend_delete", org, ledger[0].pk)).status_code == 403
    assert viewer.get(url("measurement_spend_export", org)).status_code == 403
    assert SpendEntry.objects.filter(pk=ledger[0].pk).exists()


def test_marketer_creates_edits_and_deletes_an_entry(client, org):
    marketer = client_for(client, org, Role.MARKETER)
    form = {
        "channel": "paid search", "campaign": "", "type": "media", "period_start": "2026-03-01",
        "period_end": "2026-03-31", "amount": "310.00", "note": "", "external_id": "",
    }  # fmt: skip
    response = marketer.post(url("measurement_spend_new", org), form)
    assert response.status_code == 302
    spend = SpendEntry.objects.get(organization=org)
    assert (spend.channel, spend.amount, spend.external_id) == ("paid search", D("310.00"), None)
    refused = marketer.post(
        url("measurement_spend_edit", org, spend.pk), {**form, "period_end": "2026-02-01"}
    )
    assert refused.status_code == 400
    assert "before it starts" in refused.content.decode()
    saved = marketer.post(url("measurement_spend_edit", org, spend.pk), {**form, "amount": "300"})
    assert saved.status_code == 302
    spend.refresh_from_db()
    assert spend.amount == D("300.00")
    assert marketer.get(url("measurement_spend_delete", org, spend.pk)).status_code == 405
    assert marketer.post(url("measurement_spend_delete", org, spend.pk)).status_code == 302
    assert not SpendEntry.objects.exists()


def test_export_holds_the_filtered_rows(owner_client, org, ledger):
    response = owner_client.get(
        url("measurement_spend_export", org) + "?channel=Paid+Search&start=2026-04-01"
    )
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["channel", "campaign", "type", "period_start", "period_end", "amount", "note", "external_id"],
        ["Paid Search", "", "media", "2026-04-01", "2026-06-30", "910.00", "", ""],
    ]
    logged = SecurityEvent.objects.get(organization=org, kind=SecurityEvent.Kind.EXPORT)
    assert logged.detail["rows"] == 1
    assert owner_client.get(url("measurement_spend_export", org) + "?start=nope").status_code == 400


def test_export_can_be_imported_back(owner_client, org, ledger):
    exported = b"".join(owner_client.get(url("measurement_spend_export", org)).streaming_content).decode()
    SpendEntry.objects.filter(organization=org).delete()
    result = run_import(org, exported)
    assert (result.created, result.updated) == (3, 0)
    assert services.spend_totals(org=org).total == D("1320.00")


def test_import_page_reports_problems_and_writes_nothing(owner_client, org):
    page = owner_client.get(url("measurement_spend_import", org)).content.decode()
    assert "Up to 2.0" in page and "10,000 rows" in page
    bad = upload("channel,date,cost\nEvents,2026-05-04,250\nEvents,2026-05-32,-1\n")
    response = owner_client.post(url("measurement_spend_import", org), {"file": bad})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was imported: 2 problems in 1 row" in html
    assert "<td>3</td><td>date</td><td>2026-05-32 is not a day of the calendar.</td>" in html
    assert "<td>3</td><td>cost</td><td>An amount cannot be negative" in html
    assert not SpendEntry.objects.exists()
    good = upload("channel,date,cost\nEvents,2026-05-04,250\n")
    done = owner_client.post(url("measurement_spend_import", org), {"file": good})
    assert done.status_code == 302
    assert SpendEntry.objects.get(organization=org).amount == D("250.00")
