"""The marketing plan: dependencies and validation, the timeline's positions, actual vs target, CSV, API.

The organisation's fiscal year is the calendar year, so "this quarter and the
next" from FY2026 Q1 is 1 January to 30 June 2026: 31 + 28 + 31 + 30 + 31 +
30 = 181 days. Opportunities (as in tests/strategy/test_goals.py):

    name  type          created  closed         amount
    W1    new business  Feb 10   won Mar 5      40,000
    W2    new business  Feb 12   won Mar 20     20,000
    W3    expansion     Mar 1    won Mar 25      5,000
    O1    new business  Apr 2    open           15,000
    L1    new business  Jan 20   lost Feb 15     8,000

Over 1 February to 31 March: pipeline created 65,000 (W1 + W2 + W3; O1 and L1
were created outside), new bookings 60,000 (W1 + W2; W3 is expansion).
"""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution.models import Campaign
from apps.measurement.services import rollup
from apps.records.models import Account, Opportunity
from apps.strategy import timeline
from apps.strategy.models import Program, ProgramBudgetLine, Segment
from apps.strategy.services import programs as services
from tests import factories
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db
D = datetime.date
PLAN_URL = "/o/acme/strategy/plan/?year=2026&quarter=1&span=quarters"


@pytest.fixture
def books(org, owner):
    account = Account.objects.create(organization=org, name="Initech", domain="initech.test")
    rows = [
        ("W1", "new_business", D(2026, 2, 10), "won", D(2026, 3, 5), 40000),
        ("W2", "new_business", D(2026, 2, 12), "won", D(2026, 3, 20), 20000),
        ("W3", "expansion", D(2026, 3, 1), "won", D(2026, 3, 25), 5000),
        ("O1", "new_business", D(2026, 4, 2), "open", None, 15000),
        ("L1", "new_business", D(2026, 1, 20), "lost", D(2026, 2, 15), 8000),
    ]
    for name, kind, created, status, closed, amount in rows:
        Opportunity.objects.create(
            organization=org, name=name, account=account, type=kind, created_date=created, status=status,
            close_date=closed, amount=Decimal(amount),
        )  # fmt: skip
    rollup.rollup(org, full=True)
    admin = Membership.objects.get(organization=org, user=owner)
    return {"org": org, "admin": admin}


def make(org, name, start, end, **fields):
    values = {"objective": f"{name} objective", **fields}
    return services.program_create(org=org, name=name, start=start, end=end, **values)


@pytest.fixture
def launch_and_summit(books):
    org = books["org"]
    launch = make(
        org, "Launch", D(2026, 2, 1), D(2026, 3, 31), owner=books["admin"], status="active",
        budget_lines=[
            {"channel": "Paid Social", "description": "LinkedIn", "amount": "6000"},
            {"channel": "Organic Search", "description": "Writing", "amount": "9000.50"},
        ],
        targets=[
            {"metric": "pipeline_created", "target": "100000"},
            {"metric": "new_bookings", "target": "50000"},
        ],
    )  # fmt: skip
    summit = make(
        org, "Summit", D(2026, 3, 15), D(2026, 7, 31), depends_on=[launch],
        budget_lines=[{"channel": "Events", "description": "Booth", "amount": "18000"}],
        targets=[{"metric": "leads", "target": "300"}],
    )  # fmt: skip
    december = make(org, "December push", D(2025, 12, 1), D(2025, 12, 31))
    return {**books, "launch": launch, "summit": summit, "december": december}


# --- Services ------------------------------------------------------------------------------------


def test_create_with_lines_targets_and_dependencies(launch_and_summit):
    launch, summit = launch_and_summit["launch"], launch_and_summit["summit"]
    assert services.budget_total(launch) == Decimal("15000.50")
    assert [(t.metric, t.target) for t in launch.targets.all()] == [
        ("pipeline_created", Decimal("100000.0000")),
        ("new_bookings", Decimal("50000.0000")),
    ]
    assert list(summit.depends_on.all()) == [launch]
    assert list(launch.dependents.all()) == [summit]
    assert summit.status == "planned"


def test_a_program_cannot_depend_on_itself_or_go_round_in_a_circle(launch_and_summit):
    org, launch, summit = launch_and_summit["org"], launch_and_summit["launch"], launch_and_summit["summit"]
    with pytest.raises(ServiceError) as caught:
        services.program_update(org=org, program=launch, depends_on=[launch])
    assert caught.value.field == "depends_on"
    follow_up = make(org, "Follow-up", D(2026, 8, 1), D(2026, 8, 31), depends_on=[summit])
    with pytest.raises(ServiceError) as caught:  # launch → follow-up → summit → launch
        services.program_update(org=org, program=launch, depends_on=[follow_up])
    assert (caught.value.field, caught.value.code) == ("depends_on", "cycle")
    assert list(launch.depends_on.all()) == []
    services.program_update(org=org, program=follow_up, depends_on=[summit, launch])  # a diamond is fine
    assert follow_up.depends_on.count() == 2


def test_a_dependency_that_has_not_ended_is_a_warning_not_an_error(launch_and_summit):
    org, launch, summit = launch_and_summit["org"], launch_and_summit["launch"], launch_and_summit["summit"]
    [warning] = services.dependency_warnings(summit)
    assert warning.dependency == launch
    assert warning.message == "starts 15 Mar 2026, before “Launch” ends (31 Mar 2026)"
    services.program_update(org=org, program=summit, start=D(2026, 4, 1))
    assert services.dependency_warnings(summit) == []  # Launch ends on 31 March: in time
    services.program_set_status(org=org, program=launch, status="cancelled")
    assert [w.message for w in services.dependency_warnings(summit)] == [
        "depends on “Launch”, which was cancelled"
    ]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"objective": ""}, "objective"),
        ({"start": "soon"}, "start"),
        ({"end": D(2026, 1, 31)}, "end"),  # before the start
        ({"end": D(2030, 1, 1)}, "end"),  # longer than the metric engine reads
        ({"status": "paused"}, "status"),
        ({"owner": 999999}, "owner"),
        ({"segment": 999999}, "segment"),
        ({"offer": 999999}, "offer"),
        ({"goal": 999999}, "goal"),
        ({"depends_on": [999999]}, "depends_on"),
        ({"budget_lines": [{"description": "Ads", "amount": "-1"}]}, "budget_lines.0.amount"),
        ({"budget_lines": [{"description": "", "amount": "1"}]}, "budget_lines.0.description"),
        ({"targets": [{"metric": "vibes", "target": 1}]}, "targets.0.metric"),
        (
            {"targets": [{"metric": "leads", "target": 1}, {"metric": "leads", "target": 2}]},
            "targets.1.metric",
        ),
        ({"budget": 5}, "budget"),
    ],
)
def test_bad_input_names_the_field(books, fields, field):
    values = {"name": "Launch", "objective": "Leads", "start": D(2026, 2, 1), "end": D(2026, 3, 31), **fields}
    with pytest.raises(ServiceError) as caught:
        services.program_create(org=books["org"], **values)
    assert caught.value.field == field
    assert not Program.objects.exists()


def test_another_organisations_objects_are_refused(launch_and_summit, other_org):
    org, launch = launch_and_summit["org"], launch_and_summit["launch"]
    theirs = make(other_org, "Theirs", D(2026, 1, 1), D(2026, 1, 31))
    stranger = factories.make_member(other_org, role=Role.MARKETER)
    segment = Segment.objects.create(organization=other_org, key="icp", name="Their ICP")
    for fields, field in [
        ({"depends_on": [theirs.pk]}, "depends_on"),
        ({"owner": stranger.pk}, "owner"),
        ({"segment": segment.pk}, "segment"),
    ]:
        with pytest.raises(ServiceError) as caught:
            services.program_update(org=org, program=launch, **fields)
        assert caught.value.field == field
    with pytest.raises(ServiceError) as caught:
        services.program_update(org=other_org, program=launch, name="Hijack")
    assert caught.value.code == "not_found"


def test_budget_lines_and_targets_one_at_a_time(launch_and_summit):
    org, launch = launch_and_summit["org"], launch_and_summit["launch"]
    line = services.budget_line_add(
        org=org, program=launch, channel="Email", description="Nurture", amount="499.50"
    )
    assert services.budget_total(launch) == Decimal("15500.00")
    services.budget_line_delete(org=org, line=line)
    assert services.budget_total(launch) == Decimal("15000.50")
    services.target_set(org=org, program=launch, metric="pipeline_created", target="120000")
    assert launch.targets.get(metric="pipeline_created").target == Decimal("120000")  # replaced, not added
    with pytest.raises(ServiceError) as caught:
        services.target_set(org=org, program=launch, metric="arr_vibes", target=1)
    assert caught.value.field == "metric"
    with pytest.raises(ServiceError) as caught:
        services.budget_line_add(org=org, program=launch, description="Ads", amount="1.234")
    assert caught.value.field == "amount"


def test_progress_reads_the_metric_engine_over_the_programs_dates(launch_and_summit):
    org, launch = launch_and_summit["org"], launch_and_summit["launch"]
    pipeline, bookings = services.program_progress(org=org, program=launch, today=D(2026, 11, 1))
    assert pipeline.measured_to == D(2026, 3, 31)
    assert pipeline.actual == 65000  # W1 + W2 + W3
    assert pipeline.percent == pytest.approx(65.0)
    assert pipeline.met is False
    assert bookings.actual == 60000  # W1 + W2; W3 is expansion
    assert bookings.percent == pytest.approx(120.0)
    assert bookings.met is True
    # Read on 20 February only the days so far count: W1 and W2 were created, nothing was won yet.
    early_pipeline, early_bookings = services.program_progress(org=org, program=launch, today=D(2026, 2, 20))
    assert (early_pipeline.measured_to, early_pipeline.actual) == (D(2026, 2, 20), 60000)
    assert early_bookings.actual == 0
    [before] = services.program_progress(org=org, program=launch_and_summit["summit"], today=D(2026, 3, 1))
    assert (before.measured_to, before.actual, before.met) == (None, None, None)


# --- The timeline (pure) -------------------------------------------------------------------------


def test_timeline_positions_are_hand_computed():
    visible = timeline.plan_range(1, 2026, 1, "quarters")
    assert (visible.start, visible.end, visible.days) == (D(2026, 1, 1), D(2026, 6, 30), 181)
    launch = timeline.bar(visible, D(2026, 2, 1), D(2026, 3, 31))
    assert launch.left == pytest.approx(31 / 181 * 100)  # 17.127 %
    assert launch.width == pytest.approx(59 / 181 * 100)  # February and March: 59 days
    summit = timeline.bar(visible, D(2026, 3, 15), D(2026, 7, 31), [D(2026, 3, 31)])
    assert summit.left == pytest.approx(73 / 181 * 100)  # 31 + 28 + 14 days before 15 March
    assert summit.width == pytest.approx(108 / 181 * 100)  # clipped at 30 June
    assert (summit.clipped_start, summit.clipped_end) == (False, True)
    assert summit.links == [pytest.approx(90 / 181 * 100)]  # the dependency ends with 31 March
    assert timeline.bar(visible, D(2025, 12, 1), D(2025, 12, 31)) is None
    early = timeline.bar(visible, D(2025, 12, 1), D(2026, 1, 10))
    assert (early.left, early.width, early.clipped_start) == (0, pytest.approx(10 / 181 * 100), True)
    year = timeline.plan_range(10, 2027, 2, "year")  # fiscal years starting in October
    assert (year.start, year.end) == (D(2026, 10, 1), D(2027, 9, 30))
    months = timeline.months(visible)
    assert [m.label for m in months] == [
        "Jan 2026",
        "Feb 2026",
        "Mar 2026",
        "Apr 2026",
        "May 2026",
        "Jun 2026",
    ]
    assert months[1].left == pytest.approx(31 / 181 * 100)


# --- Pages ---------------------------------------------------------------------------------------


def _as(client, membership):
    client.force_login(membership.user)
    return client


def test_plan_page_draws_bars_at_their_dates(launch_and_summit, owner_client):
    response = owner_client.get(PLAN_URL)
    assert response.status_code == 200
    body = response.content.decode()
    launch, summit = launch_and_summit["launch"], launch_and_summit["summit"]
    assert f'data-program="{launch.pk}" x="17.127%" width="32.597%"' in body  # 31/181, 59/181
    assert f'data-program="{summit.pk}" x="40.331%" width="59.669%"' in body  # 73/181, 108/181
    assert 'x1="49.724%" x2="40.331%"' in body  # the hint from Launch's end (90/181) to Summit's start
    assert "status-active" in body and "status-planned" in body
    assert "December push" not in body  # outside the range
    assert "before “Launch” ends (31 Mar 2026)" in body  # the dependency warning
    assert "33,000.50" in body  # the plan's total budget: 15,000.50 + 18,000
    assert "Pipeline created 100,000; New bookings 50,000" in body  # the same targets as the CSV
    assert "New program" in body and "Export CSV" in body
    whole_year = owner_client.get("/o/acme/strategy/plan/?year=2026&quarter=1&span=year").content.decode()
    assert f'data-program="{launch.pk}" x="8.493%" width="16.164%"' in whole_year  # 31/365, 59/365


def test_plan_page_empty_states(books, client, owner_client):
    body = owner_client.get(PLAN_URL).content.decode()
    assert "No programs planned yet" in body and "Plan the first program" in body
    make(books["org"], "Later", D(2027, 1, 1), D(2027, 1, 31))
    assert "No programs in this range" in owner_client.get(PLAN_URL).content.decode()
    viewer = factories.make_member(books["org"], role=Role.VIEWER)
    Program.objects.all().delete()
    body = _as(client, viewer).get(PLAN_URL).content.decode()
    assert "A RevOps lead or admin builds the marketing plan here" in body


def test_program_page_shows_actual_against_target(launch_and_summit, owner_client):
    launch = launch_and_summit["launch"]
    body = owner_client.get(reverse("strategy_program", args=["acme", launch.pk])).content.decode()
    assert "Pipeline created" in body
    assert "65,000" in body and "100,000" in body and "65.0 %" in body  # 65,000 ÷ 100,000
    assert "60,000" in body and "120.0 %" in body  # new bookings against 50,000
    assert "15,000.50" in body  # the budget lines' total: 6,000 + 9,000.50
    assert "Campaigns: none yet" in body
    assert "Summit" in body  # needed by
    Campaign.objects.create(
        organization=launch.organization, name="Launch ads", type="paid_social", program=launch
    )
    body = owner_client.get(reverse("strategy_program", args=["acme", launch.pk])).content.decode()
    assert "Launch ads" in body and "Campaigns: none yet" not in body


def test_csv_export_has_the_pages_numbers(launch_and_summit, owner_client):
    response = owner_client.get("/o/acme/strategy/plan/export.csv?year=2026&quarter=1&span=quarters")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["program"] for row in rows] == ["Launch", "Summit"]
    launch, summit = rows
    assert launch["budget_total"] == "15000.50"
    assert launch["targets"] == "pipeline_created=100000; new_bookings=50000"
    assert (launch["start"], launch["end"], launch["status"]) == ("2026-02-01", "2026-03-31", "active")
    assert launch["owner"] == "Olivia Owner"
    assert summit["depends_on"] == "Launch"
    assert summit["budget_total"] == "18000.00" and summit["targets"] == "leads=300"


def test_create_edit_items_status_and_delete_through_the_pages(launch_and_summit, owner_client):
    org, launch = launch_and_summit["org"], launch_and_summit["launch"]
    new = reverse("strategy_program_new", args=["acme"])
    form = {
        "name": "Webinars", "objective": "Open EMEA pipeline", "rationale": "", "start": "2026-04-01",
        "end": "2026-03-01", "status": "planned", "owner": "", "segment": "", "offer": "", "goal": "",
        "depends_on": [launch.pk],
    }  # fmt: skip
    bad = owner_client.post(new, form)
    assert bad.status_code == 400 and "end" in bad.context["form"].errors
    assert owner_client.post(new, {**form, "end": "2026-05-31"}).status_code == 302
    webinars = Program.objects.get(organization=org, name="Webinars")
    assert list(webinars.depends_on.all()) == [launch]
    edit = reverse("strategy_program_edit", args=["acme", launch.pk])
    cycle = owner_client.post(edit, {**form, "name": "Launch", "start": "2026-02-01", "end": "2026-03-31",
                                     "depends_on": [webinars.pk]})  # fmt: skip
    assert cycle.status_code == 400 and "depends_on" in cycle.context["form"].errors
    items = reverse("strategy_program_items", args=["acme", launch.pk])
    assert (
        owner_client.post(items, {"action": "add_line", "description": "Ads", "amount": "-5"}).status_code
        == 400
    )
    owner_client.post(
        items, {"action": "add_line", "channel": "Email", "description": "Nurture", "amount": "500"}
    )
    assert services.budget_total(launch) == Decimal("15500.50")
    owner_client.post(items, {"action": "set_target", "metric": "leads", "target": "250"})
    assert launch.targets.get(metric="leads").target == 250
    line = ProgramBudgetLine.objects.get(program=launch, description="Nurture")
    owner_client.post(items, {"action": "delete_line", "id": line.pk})
    other_line = ProgramBudgetLine.objects.filter(program=launch_and_summit["summit"]).first()
    assert owner_client.post(items, {"action": "delete_line", "id": other_line.pk}).status_code == 404
    assert ProgramBudgetLine.objects.filter(pk=other_line.pk).exists()  # not the program's line: untouched
    status = reverse("strategy_program_status", args=["acme", launch.pk])
    assert owner_client.post(status, {"status": "done"}).status_code == 302
    launch.refresh_from_db()
    assert launch.status == "done"
    delete = reverse("strategy_program_delete", args=["acme", webinars.pk])
    assert owner_client.get(delete).status_code == 405
    assert owner_client.post(delete).status_code == 302
    assert not Program.objects.filter(pk=webinars.pk).exists()


def test_only_revops_leads_and_admins_edit(launch_and_summit, client):
    org, launch = launch_and_summit["org"], launch_and_summit["launch"]
    for role in (Role.MARKETER, Role.SALES_MANAGER, Role.VIEWER):
        client = _as(client, factories.make_member(org, role=role))
        page = client.get(PLAN_URL)
        assert page.status_code == 200 and "New program" not in page.content.decode()
        detail = client.get(reverse("strategy_program", args=["acme", launch.pk])).content.decode()
        assert "Edit program" not in detail and "Add line" not in detail
        assert client.get(reverse("strategy_program_new", args=["acme"])).status_code == 403
        assert (
            client.post(
                reverse("strategy_program_status", args=["acme", launch.pk]), {"status": "done"}
            ).status_code
            == 403
        )
        assert client.post(reverse("strategy_program_delete", args=["acme", launch.pk])).status_code == 403
    lead = factories.make_member(org, role=Role.REVOPS_LEAD)
    assert (
        _as(client, lead).get(reverse("strategy_program_edit", args=["acme", launch.pk])).status_code == 200
    )
    launch.refresh_from_db()
    assert launch.status == "active"


# --- API -----------------------------------------------------------------------------------------


def test_api_programs_crud_with_nested_lines_targets_and_progress(launch_and_summit):
    api = api_client_for(launch_and_summit["org"])
    launch = launch_and_summit["launch"]
    data = api.get(f"/api/v1/programs/{launch.pk}/").json()
    assert data["budget_total"] == "15000.50"
    progress = {row["metric"]: row for row in data["progress"]}
    assert progress["pipeline_created"]["actual"] == 65000  # read today, long after the program ended
    assert progress["pipeline_created"]["percent"] == pytest.approx(65.0)
    assert progress["new_bookings"]["met"] is True
    summit = api.get(f"/api/v1/programs/{launch_and_summit['summit'].pk}/").json()
    assert summit["depends_on"] == [launch.pk]
    assert summit["warnings"] == ["starts 15 Mar 2026, before “Launch” ends (31 Mar 2026)"]

    body = {
        "name": "Webinars", "objective": "EMEA pipeline", "start": "2026-04-01", "end": "2026-05-31",
        "depends_on": [launch.pk],
        "budget_lines": [{"channel": "Events", "description": "Platform", "amount": "400"}],
        "targets": [{"metric": "leads", "target": "300"}],
    }  # fmt: skip
    created = api.post("/api/v1/programs/", body, format="json")
    assert created.status_code == 201, created.content
    program = created.json()
    assert (program["status"], program["budget_total"], program["warnings"]) == ("planned", "400.00", [])
    assert program["targets"] == [{"metric": "leads", "target": "300.0000"}]
    patched = api.patch(
        f"/api/v1/programs/{program['id']}/",
        {
            "budget_lines": [
                {"description": "Speakers", "amount": "250"},
                {"description": "Ads", "amount": "50"},
            ]
        },
        format="json",
    ).json()
    assert patched["budget_total"] == "300.00"  # the set replaced
    assert patched["targets"] == program["targets"]  # omitted: left as it was
    listed = api.get("/api/v1/programs/", {"active_on": "2026-03-20"}).json()["results"]
    assert sorted(row["name"] for row in listed) == ["Launch", "Summit"]
    assert [row["name"] for row in api.get("/api/v1/programs/", {"status": "active"}).json()["results"]] == [
        "Launch"
    ]
    assert api.delete(f"/api/v1/programs/{program['id']}/").status_code == 204
    assert not Program.objects.filter(pk=program["id"]).exists()


def test_api_errors_name_the_field(launch_and_summit):
    api = api_client_for(launch_and_summit["org"])
    launch = launch_and_summit["launch"]
    body = {"name": "X", "objective": "Y", "start": "2026-04-01", "end": "2026-05-31"}
    for change, field in [
        ({"end": "2026-03-01"}, "end"),
        ({"status": "paused"}, "status"),
        ({"targets": [{"metric": "vibes", "target": "1"}]}, "targets.0.metric"),
        ({"budget_lines": [{"description": "Ads", "amount": "-1"}]}, "budget_lines.0.amount"),
        ({"depends_on": [999999]}, "depends_on"),
        ({"colour": "red"}, "colour"),
    ]:
        response = api.post("/api/v1/programs/", {**body, **change}, format="json")
        assert response.status_code == 400, change
        assert field in response.json()["error"]["fields"], response.content
    cycle = api.patch(f"/api/v1/programs/{launch.pk}/", {"depends_on": [launch.pk]}, format="json")
    assert cycle.status_code == 400 and "depends_on" in cycle.json()["error"]["fields"]
    bad_filter = api.get("/api/v1/programs/", {"colour": "red"})
    assert bad_filter.status_code == 400 and "colour" in bad_filter.json()["error"]["fields"]


# --- Demo ----------------------------------------------------------------------------------------


def test_demo_seeds_positioning_offers_and_programs_once(org):
    from apps.strategy.demo import seed_positioning, seed_programs
    from apps.strategy.models import Offer, Positioning

    Segment.objects.create(organization=org, key="icp", name="ICP", is_icp=True)
    Segment.objects.create(organization=org, key="emea", name="EMEA")
    assert seed_positioning(org) == 2 + 6  # two of the four segments exist; six offers
    assert sorted(Positioning.objects.for_org(org).values_list("segment__key", "version")) == [
        ("emea", 2),
        ("icp", 2),
    ]
    assert Offer.objects.for_org(org).filter(segment__isnull=True).count() == 4  # their segments are missing
    assert seed_programs(org) == 6
    summit = Program.objects.get(organization=org, name="RevOps Summit")
    assert [p.name for p in summit.depends_on.all()] == ["Enterprise assessment offer"]
    assert services.budget_total(summit) == Decimal("24000.00")
    assert {line.channel for line in ProgramBudgetLine.objects.for_org(org)} <= {
        "Paid Search", "Paid Social", "Email", "Organic Search", "Partner", "Events",
    }  # fmt: skip
    assert (seed_positioning(org), seed_programs(org)) == (None, None)


def test_plan_page_and_api_list_do_not_query_per_program(launch_and_summit, owner_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = api_client_for(launch_and_summit["org"])

    def counts():
        with CaptureQueriesContext(connection) as page:
            assert owner_client.get(PLAN_URL).status_code == 200
        with CaptureQueriesContext(connection) as listing:
            assert api.get("/api/v1/offers/").status_code == 200
        return len(page), len(listing)

    counts()  # warm the API key's cache
    before = counts()
    for n in range(3):
        make(
            launch_and_summit["org"],
            f"Extra {n}",
            D(2026, 4, 1),
            D(2026, 4, 30),
            depends_on=[launch_and_summit["launch"]],
        )
    assert counts() == before
