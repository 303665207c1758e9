"""Attribution from the database: paths selected in SQL (lookback, close, lead and account touches, each
once), AttributionDay rows against hand-computed credit, exact sums, the Markov fit counted in SQL, the
rollup (full and incremental), the drill-down, and the same numbers on the page, in the API and the CSV.

The organisation is on UTC, its lookback is 30 days. Three opportunities:

A, won (1,000), created 2025-03-10, closed 2025-03-20; primary contact La (captured 03-05 10:00)
  t1 01-15 Organic    before the window (it opens 02-08 00:00): out
  t2 02-20 Paid Search  first touch
  t3 03-05 09:00 Email  lead-creation touch (last at or before 03-05 10:00)
  t4 03-10 15:00 Events opportunity-creation touch (the created day counts up to its end)
  t5 03-15 Paid Search  last touch, closed-won touch (last at or before the end of 03-20)
  t6 03-25 Email        after the close: out
C, lost (200), created 2025-03-10, no touch at all: "(no touch)".
B, open (500), created 2025-03-12; primary contact Lb (captured 03-01 08:00) at account Acc2
  u1 03-01 08:00 Organic  Lb's, exactly at capture: first and lead-creation touch
  u2 03-11 Paid Search    Lb's
  u3 03-12 09:00 Events   Lc's, another person at Acc2 (via the account): opportunity-creation touch
  u4 03-14 Email          the account's, no person: last touch
"""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.urls import reverse

from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.measurement.attribution import compute, markov, markov_fit
from apps.measurement.models import AttributionDay, MeasurementSettings
from apps.measurement.services import attribution as services
from apps.measurement.services import rollup
from apps.records import services as records

pytestmark = pytest.mark.django_db

D = Decimal
A_DAY, B_DAY = dt.date(2025, 3, 10), dt.date(2025, 3, 12)
PS, EM, EV, ORG = "Paid Search", "Email", "Events", "Organic"
# (channel, source, campaign) of each kind of touch
DIMS = {
    PS: (PS, "google", "spring"),
    EM: (EM, "newsletter", "march"),
    EV: (EV, "webinar", ""),
    ORG: (ORG, "google-organic", ""),
}


def at(month, day, hour=12, minute=0):
    return dt.datetime(2025, month, day, hour, minute, tzinfo=dt.UTC)


def touch(org, kind, when, *, lead=None, account=None):
    channel, source, campaign = DIMS[kind]
    return records.touchpoint_create(
        org=org, lead=lead, account=account, channel=channel, source=source, utm_campaign=campaign,
        occurred_at=when,
    )  # fmt: skip


@pytest.fixture
def world(org):
    MeasurementSettings.objects.create(organization=org, attribution_lookback_days=30)
    acc1 = records.account_create(org=org, name="Acc One", domain="one.test")
    acc2 = records.account_create(org=org, name="Acc Two", domain="two.test")
    la = records.lead_create(org=org, email="a@one.test", captured_at=at(3, 5, 10))
    lb = records.lead_create(org=org, email="b@two.test", captured_at=at(3, 1, 8))
    lc = records.lead_create(org=org, email="c@two.test", captured_at=at(2, 1))
    ld = records.lead_create(org=org, email="d@nowhere.test", captured_at=at(3, 1))
    assert la.account_id == acc1.pk and lb.account_id == lc.account_id == acc2.pk
    touch(org, ORG, at(1, 15), lead=la)
    touch(org, PS, at(2, 20, 10), lead=la)
    touch(org, EM, at(3, 5, 9), lead=la)
    touch(org, EV, at(3, 10, 15), lead=la)
    touch(org, PS, at(3, 15), lead=la)
    touch(org, EM, at(3, 25), lead=la)
    touch(org, ORG, at(3, 1, 8), lead=lb)
    touch(org, PS, at(3, 11), lead=lb)
    touch(org, EV, at(3, 12, 9), lead=lc)
    touch(org, EM, at(3, 14), account=acc2)
    a = records.opportunity_create(
        org=org, name="Deal A", account=acc1, primary_contact=la, amount=D("1000"), status="won",
        created_date=A_DAY, close_date=dt.date(2025, 3, 20),
    )  # fmt: skip
    c = records.opportunity_create(
        org=org, name="Deal C", primary_contact=ld, amount=D("200"), status="lost", loss_reason="Price",
        created_date=A_DAY, close_date=dt.date(2025, 3, 15),
    )  # fmt: skip
    b = records.opportunity_create(
        org=org, name="Deal B", account=acc2, primary_contact=lb, amount=D("500"), created_date=B_DAY
    )
    return {"a": a, "b": b, "c": c, "la": la, "lb": lb, "lc": lc, "acc2": acc2}


def credit(org, model, day):
    """{(channel, source, campaign): (opportunities, pipeline, won, revenue)} of one day and model."""
    return {
        (r.channel, r.source, r.campaign): (r.opportunities, r.pipeline, r.won, r.revenue)
        for r in AttributionDay.objects.for_org(org).filter(model=model, day=day)
    }


NONE = (compute.NO_TOUCH,) * 3


def test_first_touch_linear_and_u_shaped_by_hand(org, world):
    written = compute.rebuild(org, None)
    assert written == AttributionDay.objects.for_org(org).count() > 0

    # A's first touch is t2 (t1 is outside the lookback window); C has none; B's is u1.
    assert credit(org, "first_touch", A_DAY) == {
        DIMS[PS]: (D("1"), D("1000"), D("1"), D("1000")),
        NONE: (D("1"), D("200"), D("0"), D("0")),
    }
    assert credit(org, "first_touch", B_DAY) == {DIMS[ORG]: (D("1"), D("500"), D("0"), D("0"))}
    # Last touch: t5 for A (t6 came after the close), u4 (the account's own touch) for B.
    assert credit(org, "last_touch", A_DAY)[DIMS[PS]] == (D("1"), D("1000"), D("1"), D("1000"))
    assert credit(org, "last_touch", B_DAY) == {DIMS[EM]: (D("1"), D("500"), D("0"), D("0"))}

    # Linear: a quarter each of A's four touches (two of them Paid Search) and of B's four.
    assert credit(org, "linear", A_DAY) == {
        DIMS[PS]: (D("0.5"), D("500"), D("0.5"), D("500")),
        DIMS[EM]: (D("0.25"), D("250"), D("0.25"), D("250")),
        DIMS[EV]: (D("0.25"), D("250"), D("0.25"), D("250")),
        NONE: (D("1"), D("200"), D("0"), D("0")),
    }
    assert credit(org, "linear", B_DAY) == {
        DIMS[k]: (D("0.25"), D("125"), D("0"), D("0")) for k in (ORG, PS, EV, EM)
    }

    # U-shaped: 40 % first, 40 % last, 20 % / 2 to the two between.
    assert credit(org, "u_shaped", A_DAY) == {
        DIMS[PS]: (D("0.8"), D("800"), D("0.8"), D("800")),
        DIMS[EM]: (D("0.1"), D("100"), D("0.1"), D("100")),
        DIMS[EV]: (D("0.1"), D("100"), D("0.1"), D("100")),
        NONE: (D("1"), D("200"), D("0"), D("0")),
    }
    assert credit(org, "u_shaped", B_DAY) == {
        DIMS[ORG]: (D("0.4"), D("200"), D("0"), D("0")),
        DIMS[EM]: (D("0.4"), D("200"), D("0"), D("0")),
        DIMS[PS]: (D("0.1"), D("50"), D("0"), D("0")),
        DIMS[EV]: (D("0.1"), D("50"), D("0"), D("0")),
    }


def test_milestone_models_and_exact_rounding(org, world):
    compute.rebuild(org, None)
    # W-shaped, A: 30 % each to t2 (first), t3 (lead creation), t4 (opportunity creation); nobody is left
    # between them for the 10 %, so each gets a third. t5 came after the creation: nothing.
    third = (D("0.333333"), D("333.33"), D("0.333333"), D("333.33"))
    # Equal remainders: the micro-unit and the cent left go to the earliest touch, t2.
    assert credit(org, "w_shaped", A_DAY) == {
        DIMS[PS]: (D("0.333334"), D("333.34"), D("0.333334"), D("333.34")),
        DIMS[EM]: third,
        DIMS[EV]: third,
        NONE: (D("1"), D("200"), D("0"), D("0")),
    }
    # B: u1 is first and lead-creation touch (60 %), u3 the creation touch (30 %), u2 between (10 %).
    assert credit(org, "w_shaped", B_DAY) == {
        DIMS[ORG]: (D("0.6"), D("300"), D("0"), D("0")),
        DIMS[EV]: (D("0.3"), D("150"), D("0"), D("0")),
        DIMS[PS]: (D("0.1"), D("50"), D("0"), D("0")),
    }
    # Full path, A: 22.5 % each to t2, t3, t4 and t5 (the closed-won touch), nobody between: a quarter each.
    assert credit(org, "full_path", A_DAY)[DIMS[PS]] == (D("0.5"), D("500"), D("0.5"), D("500"))
    # Full path, B (open: no closed-won touch): u1 45 %, u3 22.5 %, u2 and u4 5 % each, over 77.5 %.
    # 0.580645.. / 0.290322.. / 0.064516.. / 0.064516..: the micro-unit left goes to u3 (remainder .58),
    # the two cents left of 500.00 to u2 and u4 (remainders .806 each).
    assert credit(org, "full_path", B_DAY) == {
        DIMS[ORG]: (D("0.580645"), D("290.32"), D("0"), D("0")),
        DIMS[EV]: (D("0.290323"), D("145.16"), D("0"), D("0")),
        DIMS[PS]: (D("0.064516"), D("32.26"), D("0"), D("0")),
        DIMS[EM]: (D("0.064516"), D("32.26"), D("0"), D("0")),
    }


def test_every_model_credits_each_opportunity_exactly_once(org, world):
    compute.rebuild(org, None)
    for model in compute.ALL_MODELS:
        for day, count, amount, won, revenue in [
            (A_DAY, 2, D("1200"), 1, D("1000")),
            (B_DAY, 1, D("500"), 0, D("0")),
        ]:
            sums = (
                AttributionDay.objects.for_org(org)
                .filter(model=model, day=day)
                .aggregate(o=Sum("opportunities"), p=Sum("pipeline"), w=Sum("won"), r=Sum("revenue"))
            )
            assert (sums["o"], sums["p"], sums["w"], sums["r"]) == (count, amount, won, revenue), (model, day)
    # Each opportunity alone: rebuild B's day and check its paths' shares from the drill-down too.
    for opportunity in (world["a"], world["b"]):
        result = compute.opportunity_credits(org, opportunity)
        for model in compute.ALL_MODELS:
            assert sum(t.shares[model] for t in result.touches) == 1, (opportunity.name, model)


def test_time_decay_halves_per_half_life(org, world):
    MeasurementSettings.objects.for_org(org).update(time_decay_half_life_days=1.0)
    result = compute.opportunity_credits(org, world["b"])
    # Reference: the end of 03-12. Ages: u1 11.67 d, u2 1.5 d, u3 ~0.625 d, u4 after it (age 0).
    shares = [float(t.shares["time_decay"]) for t in result.touches]
    end = at(3, 13, 0) - dt.timedelta(microseconds=1)
    ages = [(end - t.occurred_at).total_seconds() / 86_400 for t in result.touches]
    raw = [2 ** -max(age, 0) for age in ages]
    assert shares == pytest.approx([r / sum(raw) for r in raw], abs=1e-6)
    assert shares[3] == max(shares)


def test_the_lookback_window_is_the_organisations(org, world):
    MeasurementSettings.objects.for_org(org).update(attribution_lookback_days=10)
    compute.rebuild(org, [A_DAY])
    # The window of A now opens on 02-28: t2 (02-20) is out, t3 is the first touch.
    assert credit(org, "first_touch", A_DAY)[DIMS[EM]][0] == 1
    assert DIMS[PS] not in credit(org, "first_touch", A_DAY)
    assert not AttributionDay.objects.for_org(org).filter(day=B_DAY).exists()  # not asked for


def test_markov_chain_is_counted_in_sql_and_warns(org, world):
    fit = markov_fit.fit_markov(org)
    # Journeys: La converted (touches before the end of A's created day: t1..t4), Lb converted (u1, u2),
    # Lc not (u3). The account's own touch u4 has no person and no journey.
    expected = markov.removal_effects([([ORG, PS, EM, EV], True), ([ORG, PS], True), ([EV], False)])
    assert fit.shares == pytest.approx(expected.share)
    assert (fit.journeys, fit.conversions) == (3, 2)
    assert "Only 2 converting journeys" in fit.warning
    assert compute.markov_fit(org).shares == pytest.approx(fit.shares)


def test_drill_down_positions_and_shares(org, world):
    result = compute.opportunity_credits(org, world["a"])
    assert [t.channel for t in result.touches] == [PS, EM, EV, PS]
    assert [t.positions for t in result.touches] == [
        ("first touch",),
        ("lead creation",),
        ("opportunity creation",),
        ("won", "last touch"),
    ]
    assert [t.shares["u_shaped"] for t in result.touches] == [D("0.4"), D("0.1"), D("0.1"), D("0.4")]
    assert result.window_start == at(2, 8, 0)
    assert result.window_end == at(3, 21, 0)
    assert compute.opportunity_credits(org, world["c"]).touches == []
    # No rollup has fitted the chain yet: the page load does not fit it, and says so.
    assert result.fit.warning == compute.NOT_FITTED
    assert compute.markov_fit(org) is None


def test_rollup_fills_attribution_and_keeps_it_up_to_date(org, world):
    result = rollup.rollup(org, full=True)
    assert result.rows["attribution"] == AttributionDay.objects.for_org(org).count() > 0
    assert credit(org, "linear", B_DAY)[DIMS[PS]][0] == D("0.25")

    # A new touch on B's lead and C deleted: the next (incremental) run re-credits both days.
    touch(org, EM, at(3, 13), lead=world["lb"])
    world["c"].delete()
    result = rollup.rollup(org)
    assert not result.full
    assert credit(org, "linear", B_DAY)[DIMS[PS]][0] == D("0.2")
    assert credit(org, "linear", B_DAY)[DIMS[EM]][0] == D("0.4")
    assert NONE not in credit(org, "linear", A_DAY)
    # Running again (the watermark's hour of overlap sees the same changes) gives identical rows.
    fields = ("day", "model", "channel", "source", "campaign", "opportunities", "pipeline", "won", "revenue")
    before = sorted(AttributionDay.objects.for_org(org).values_list(*fields))
    rollup.rollup(org)
    assert sorted(AttributionDay.objects.for_org(org).values_list(*fields)) == before


def test_other_organisations_touches_never_count(org, world, other_org):
    # Same e-mail domain, same dates, another tenant: nothing of it enters org's paths.
    lead = records.lead_create(org=other_org, email="a@one.test", captured_at=at(3, 5))
    touch(other_org, PS, at(3, 9), lead=lead)
    compute.rebuild(org, None)
    assert credit(org, "linear", A_DAY)[DIMS[PS]][0] == D("0.5")


# -- the page, the API and the CSV ---------------------------------------------------------------------

PERIOD = {"period": "custom", "start": "2025-03-01", "end": "2025-03-31"}


def _api(api, **params):
    response = api.get(reverse("api-attribution"), params)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_same_numbers_on_the_page_in_the_api_and_the_csv(org, world, owner_client, api):
    compute.rebuild(org, None)
    page = owner_client.get(
        reverse("measurement_attribution", args=[org.slug]),
        {**PERIOD, "group_by": "channel", "measure": "pipeline"},
    )
    assert page.status_code == 200
    labels = page.context["labels"]
    shown = {row["label"]: dict(zip(labels, row["cells"], strict=True)) for row in page.context["rows"]}
    # Pipeline by channel, linear: Paid Search 500 (A) + 125 (B), Email 250 + 125, Events 250 + 125,
    # Organic 125, (no touch) 200.
    assert {k: v["Linear"] for k, v in shown.items()} == {
        PS: D("625"), EM: D("375"), EV: D("375"), ORG: D("125"), compute.NO_TOUCH: D("200"),
    }  # fmt: skip
    assert "625.00" in page.content.decode()
    assert b"Data-driven model:" in page.content  # two conversions: the warning shows

    body = _api(api, **{"from": "2025-03-01", "to": "2025-03-31", "group_by": "channel"})
    from_api = {(r["model"], r["group"]): D(r["pipeline"]) for r in body["results"]}
    for label, cells in shown.items():
        for model in compute.ALL_MODELS:
            assert from_api.get((model, label), D(0)) == cells[compute.LABELS[model]], (label, model)
    assert [m["label"] for m in body["models"]] == list(labels)
    assert "Only 2 converting journeys" in body["markov"]["warning"]

    export = owner_client.get(
        reverse("measurement_attribution_export", args=[org.slug]),
        {**PERIOD, "group_by": "channel", "measure": "pipeline"},
    )
    assert export.status_code == 200
    lines = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert lines[0] == ["channel", *labels]
    from_csv = {line[0]: [D(cell) for cell in line[1:]] for line in lines[1:]}
    assert from_csv.pop("Total") == [D("1700")] * len(labels)
    assert [line[0] for line in lines[1:-1]] == [row["label"] for row in page.context["rows"]]
    assert from_csv == {label: [cells[m] for m in labels] for label, cells in shown.items()}


def test_api_one_model_by_campaign(org, world, api):
    compute.rebuild(org, None)
    body = _api(api, model="u_shaped", group_by="campaign", **{"from": "2025-03-12", "to": "2025-03-12"})
    assert body["model"] == "u_shaped" and body["group_by"] == "campaign"
    got = {r["group"]: (r["opportunities"], r["pipeline"]) for r in body["results"]}
    # B alone: Organic and Events have no campaign (0.4 + 0.1), Email "march" 0.4, Paid Search "spring" 0.1.
    assert got == {
        "": ("0.500000", "250.00"),
        "march": ("0.400000", "200.00"),
        "spring": ("0.100000", "50.00"),
    }
    assert {r["model"] for r in body["results"]} == {"u_shaped"}


@pytest.mark.parametrize(
    ("params", "field", "fragment"),
    [
        ({"model": "magic"}, "model", "is not a model"),
        ({"group_by": "owner"}, "group_by", "cannot be grouped by"),
        ({"from": "2025-02-30"}, "from", "Date has wrong format"),
        ({"from": "2025-03-10", "to": "2025-03-01"}, "to", "ends before it starts"),
        ({"from": "2020-01-01", "to": "2025-03-01"}, "from", "at most"),
        ({"grain": "week"}, "grain", "Unknown parameter"),
    ],
)
def test_api_errors_name_the_field(api, params, field, fragment):
    response = api.get(reverse("api-attribution"), params)
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert field in fields and fragment in fields[field][0], fields


def test_empty_state_says_how_to_fill_it(org, owner_client):
    page = owner_client.get(reverse("measurement_attribution", args=[org.slug]))
    assert page.status_code == 200
    assert f"manage.py rollup --org {org.slug} --full" in page.content.decode()


def test_drill_down_page(org, world, owner_client, other_org):
    page = owner_client.get(reverse("measurement_attribution_opportunity", args=[org.slug, world["a"].pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "lead creation" in html and "40.00 %" in html and "100.00 %" in html
    foreign = records.opportunity_create(org=other_org, name="Theirs", amount=1)
    page = owner_client.get(reverse("measurement_attribution_opportunity", args=[org.slug, foreign.pk]))
    assert page.status_code == 404


def test_settings_are_edited_by_operators_and_queue_a_full_rebuild(
    org, members, client, django_capture_on_commit_callbacks, monkeypatch
):
    url = reverse("measurement_attribution_settings", args=[org.slug])
    client.force_login(members[Role.MARKETER].user)
    assert client.get(url).status_code == 403
    queued = []
    monkeypatch.setattr(
        "apps.measurement.tasks.rollup_organization.delay", lambda pk, full: queued.append((pk, full))
    )
    client.force_login(members[Role.REVOPS_LEAD].user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"lookback_days": 45, "half_life_days": 3.5})
    assert response.status_code == 302
    assert queued == [(org.pk, True)]
    saved = MeasurementSettings.objects.for_org(org).get()
    assert (saved.attribution_lookback_days, saved.time_decay_half_life_days) == (45, 3.5)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"lookback_days": 45, "half_life_days": 3.5})
    assert queued == [(org.pk, True)]  # nothing changed: nothing queued
    response = client.post(url, {"lookback_days": 0, "half_life_days": 3.5})
    assert response.status_code == 400 and "lookback_days" in response.context["form"].errors


def test_a_viewer_reads_but_cannot_export(org, world, members, client):
    compute.rebuild(org, None)
    client.force_login(members[Role.VIEWER].user)
    assert client.get(reverse("measurement_attribution", args=[org.slug]), PERIOD).status_code == 200
    assert client.get(reverse("measurement_attribution_export", args=[org.slug]), PERIOD).status_code == 403


def test_page_query_count_does_not_grow_with_groups(org, world, owner_client, django_assert_max_num_queries):
    compute.rebuild(org, None)
    with django_assert_max_num_queries(12):
        owner_client.get(
            reverse("measurement_attribution", args=[org.slug]), {**PERIOD, "group_by": "campaign"}
        )


def test_services_validate(org):
    with pytest.raises(ServiceError) as caught:
        services.attribution_settings_update(org=org, lookback_days=10, half_life_days=0)
    assert caught.value.field == "half_life_days"


def test_an_organisation_without_opportunities_gets_no_rows(org):
    lead = records.lead_create(org=org, email="x@x.test")
    touch(org, PS, at(3, 1), lead=lead)
    assert compute.rebuild(org, None) == 0
    assert compute.rebuild(org, [A_DAY]) == 0
    assert not AttributionDay.objects.for_org(org).exists()
