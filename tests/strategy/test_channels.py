"""Channel mix and budget: the arithmetic by hand, the writes, and actuals read through the metric engine.

The fixture (`history`) is a UTC organisation with a January fiscal year,
"today" 15 May 2026, rolled up in full:

    2025 (the history of FY2026 Q1: the four fiscal quarters FY2025 Q1-Q4)
      Paid Search  4 leads; spend 12,000 -> cost per lead 3,000
                   2 opportunities (1 won at 20,000, 1 lost) -> 0.5 per lead, deal size 20,000
      Events       2 leads, 1 open opportunity -> 0.5 per lead; no deal won; spend 6,000
      Referral     1 lead, 1 opportunity won at 40,000; no spend
      organisation 7 leads, 4 opportunities; deals won 20,000 and 40,000 -> deal size 30,000

    FY2026 Q1 (1 Jan - 31 Mar 2026, ended: pace is against the whole plan)
      Paid Search  spend 9,900; 4 leads; 1 opportunity, 25,000
      Events       spend 5,000 (February); 1 lead
      Tools        spend 310 (March), no line: "not in the plan"

    April 2026 (the reallocation window)
      Paid Search  spend 3,000; 3 opportunities at 10,000
      Events       spend 6,000; 2 opportunities at 5,000
      Referral     no spend; 1 opportunity at 40,000

Budget lines for FY2026 Q1: Paid Search 9,000 (history's cost per lead);
Events 4,000 at its own cost per lead of 2,000.
"""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.errors import ServiceError
from apps.measurement.demo import MONTHLY
from apps.measurement.models import SpendEntry
from apps.measurement.services import rollup
from apps.records.models import Account, Lead, LifecycleStage, Opportunity, SourceMapping, StageEvent
from apps.strategy import channels as maths
from apps.strategy.demo import seed_channel_budget
from apps.strategy.models import ChannelBudget, Segment
from apps.strategy.services import budget as services

TODAY = datetime.date(2026, 5, 15)
D = datetime.date


# --- Pure arithmetic -----------------------------------------------------------------------------


def test_line_plan_multiplies_down_the_funnel():
    plan = maths.line_plan(9000.0, maths.Input(3000.0, "h"), maths.Input(0.5, "h"), maths.Input(20000.0, "h"))
    # 9,000 ÷ 3,000 = 3 leads; x 0.5 = 1.5 opportunities; x 20,000 = 30,000 of pipeline.
    assert (plan.expected_leads, plan.expected_opportunities, plan.expected_pipeline) == (3, 1.5, 30000)


def test_a_missing_input_leaves_everything_below_it_missing():
    plan = maths.line_plan(
        500.0, maths.Input(None, maths.NO_HISTORY), maths.Input(0.5, ""), maths.Input(1, "")
    )
    assert (plan.expected_leads, plan.expected_opportunities, plan.expected_pipeline) == (None, None, None)
    plan = maths.line_plan(500.0, maths.Input(50.0, ""), maths.Input(0.5, ""), maths.Input(None, ""))
    assert (plan.expected_leads, plan.expected_opportunities, plan.expected_pipeline) == (10, 5, None)
    assert maths.total([1.0, None]) is None
    assert maths.total([]) == 0


def test_variance_and_pace():
    assert maths.variance(10.0, 12.0) == maths.Variance(10.0, 12.0, 2.0, 20.0)
    assert maths.variance(0.0, 5.0).percent is None  # nothing planned: no percent
    assert maths.variance(None, 5.0).difference is None
    # 15 May in April-June: 30 + 15 = 45 of 91 days, today included.
    share = maths.elapsed_share(D(2026, 4, 1), D(2026, 6, 30), TODAY)
    assert share == 45 / 91
    assert maths.elapsed_share(D(2026, 7, 1), D(2026, 9, 30), TODAY) == 0
    assert maths.elapsed_share(D(2026, 1, 1), D(2026, 3, 31), TODAY) == 1
    # 9,100 planned, 45/91 of it is 4,500 by now; 3,000 spent is 66.7 % of pace.
    pace = maths.pace(9100.0, 3000.0, share)
    assert pace.expected_to_date == pytest.approx(4500)
    assert pace.percent == pytest.approx(200 / 3)
    assert maths.pace(9100.0, 3000.0, 0.0) == maths.Pace(0.0, None)


APRIL = [
    maths.ChannelResult("Paid Search", 3000.0, 3.0, 30000.0),
    maths.ChannelResult("Events", 6000.0, 2.0, 10000.0),
    maths.ChannelResult("Referral", 0.0, 1.0, 40000.0),
]


def test_rank_by_cost_per_opportunity_and_pipeline_per_spend():
    ranked = maths.rank(APRIL)
    assert [r.channel for r in ranked] == ["Paid Search", "Events"]  # Referral has no spend to rank
    search, events = ranked
    # Paid Search: 3,000 ÷ 3 = 1,000 an opportunity; 30,000 ÷ 3,000 = 10 of pipeline per unit.
    assert (search.cost_per_opportunity, search.pipeline_per_spend) == (1000, 10)
    # Events: 6,000 ÷ 2 = 3,000; 10,000 ÷ 6,000 = 1.667.
    assert events.cost_per_opportunity == 3000
    assert events.pipeline_per_spend == pytest.approx(10000 / 6000)
    # Shares of the ranked channels: spend 3,000 and 6,000 of 9,000; pipeline 30,000 and 10,000 of 40,000.
    assert search.spend_share == pytest.approx(100 / 3) and search.pipeline_share == 75
    assert events.spend_share == pytest.approx(200 / 3) and events.pipeline_share == 25
    assert (search.cost_rank, search.pipeline_rank, events.cost_rank, events.pipeline_rank) == (1, 1, 2, 2)


def test_a_channel_without_opportunities_ranks_last_on_cost():
    ranked = maths.rank([*APRIL, maths.ChannelResult("Display", 500.0, 0.0, 0.0)])
    assert [(r.channel, r.cost_rank, r.cost_per_opportunity) for r in ranked][-1] == ("Display", 3, None)
    move = maths.top_move(ranked, 400.0)
    # Display bought nothing, so 400 moved to Paid Search gains 400 ÷ 1,000 = 0.4 and loses none.
    assert (move.source, move.target, move.gained, move.lost, move.net) == (
        "Display",
        "Paid Search",
        0.4,
        0,
        0.4,
    )
    assert "Display created no opportunity in the window, so none is lost there" in maths.move_sentence(
        move, "USD"
    )


def test_top_move_arithmetic_and_sentence():
    ranked = maths.rank(APRIL)
    # Default: a tenth of Events' 6,000 = 600, in whole hundreds.
    assert maths.default_move_amount(ranked) == 600
    move = maths.top_move(ranked, 3000.0)
    # 3,000 ÷ 1,000 = 3 gained in Paid Search; 3,000 ÷ 3,000 = 1 lost in Events; net 2.
    assert (move.source, move.target, move.amount) == ("Events", "Paid Search", 3000)
    assert (move.gained, move.lost, move.net) == (3, 1, 2)
    assert maths.move_sentence(move, "USD") == (
        "Moving 3,000 USD from Events to Paid Search would buy about 2.0 more opportunities at recent cost "
        "(3,000 USD ÷ 1,000 USD per opportunity in Paid Search = 3.0 gained, less 3,000 USD ÷ 3,000 USD in "
        "Events = 1.0 lost). This assumes each extra unit of spend buys what the average one did (constant "
        "marginal cost); a channel near saturation buys less, so treat it as an upper bound."
    )
    # Never more than the source spent; no move with one channel or equal costs.
    assert maths.top_move(ranked, 10_000.0).amount == 6000
    assert maths.top_move(ranked[:1], 100.0) is None
    same = maths.rank([maths.ChannelResult("A", 100.0, 1.0, 1.0), maths.ChannelResult("B", 200.0, 2.0, 1.0)])
    assert maths.top_move(same, 50.0) is None


# --- The fixture ---------------------------------------------------------------------------------


def at(day: datetime.date):
    return datetime.datetime(day.year, day.month, day.day, 9, tzinfo=datetime.UTC)


def make_lead(org, email, channel, created):
    stage = LifecycleStage.objects.for_org(org).get(key="inquiry")
    lead = Lead.objects.create(
        organization=org, email=email, channel=channel, stage=stage, captured_at=at(created)
    )
    StageEvent.objects.create(
        organization=org, lead=lead, from_stage="", to_stage="inquiry", at=at(created), origin="api"
    )
    return lead


def make_opportunity(org, account, contact, created, amount, status="open", closed=None):
    return Opportunity.objects.create(
        organization=org,
        name=f"{contact.email} {created}",
        account=account,
        primary_contact=contact,
        amount=Decimal(amount),
        created_date=created,
        status=status,
        close_date=closed,
    )


def spend(org, channel, start, end, amount):
    SpendEntry.objects.create(
        organization=org, channel=channel, amount=Decimal(amount), period_start=start, period_end=end
    )


@pytest.fixture(autouse=True)
def today(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: TODAY)
    monkeypatch.setattr("apps.measurement.metrics.engine.local_today", lambda org: TODAY)


@pytest.fixture
def history(org):
    return build_history(org)


@pytest.fixture
def plan(history):
    return build_plan(history)


def build_history(org):
    """The fixture's records and spend (see the module docstring), rolled up."""
    org.time_zone = "UTC"
    org.currency = "USD"
    org.save(update_fields=["time_zone", "currency"])
    assert org.fiscal_year_start_month == 1
    account = Account.objects.create(organization=org, name="Acme", domain="acme.test")
    search = [
        make_lead(org, f"s{i}@x.test", "Paid Search", D(2025, m, 10)) for i, m in enumerate((3, 5, 7, 9))
    ]
    make_opportunity(org, account, search[0], D(2025, 4, 1), 20000, "won", D(2025, 10, 1))
    make_opportunity(org, account, search[1], D(2025, 8, 1), 10000, "lost", D(2025, 11, 1))
    events = [make_lead(org, f"e{i}@x.test", "Events", D(2025, 6, 5 + i)) for i in range(2)]
    make_opportunity(org, account, events[0], D(2025, 7, 1), 8000)
    referral = make_lead(org, "r@x.test", "Referral", D(2025, 2, 1))
    make_opportunity(org, account, referral, D(2025, 3, 1), 40000, "won", D(2025, 6, 1))
    spend(org, "Paid Search", D(2025, 1, 1), D(2025, 12, 31), "12000")
    spend(org, "Events", D(2025, 1, 1), D(2025, 12, 31), "6000")

    q1 = [make_lead(org, f"q{i}@x.test", "Paid Search", D(2026, m, d)) for i, (m, d) in
          enumerate([(1, 10), (2, 10), (3, 10), (3, 20)])]  # fmt: skip
    make_opportunity(org, account, q1[0], D(2026, 2, 15), 25000)
    make_lead(org, "q-events@x.test", "Events", D(2026, 2, 10))
    spend(org, "Paid Search", D(2026, 1, 1), D(2026, 3, 31), "9900")
    spend(org, "Events", D(2026, 2, 1), D(2026, 2, 28), "5000")
    spend(org, "Tools", D(2026, 3, 1), D(2026, 3, 31), "310")

    for i in range(3):
        lead = make_lead(org, f"a{i}@x.test", "Paid Search", D(2026, 4, 2))
        make_opportunity(org, account, lead, D(2026, 4, 5), 10000)
    for i in range(2):
        lead = make_lead(org, f"b{i}@x.test", "Events", D(2026, 4, 3))
        make_opportunity(org, account, lead, D(2026, 4, 6), 5000)
    make_opportunity(
        org, account, make_lead(org, "r2@x.test", "Referral", D(2026, 4, 3)), D(2026, 4, 7), 40000
    )
    spend(org, "Paid Search", D(2026, 4, 1), D(2026, 4, 30), "3000")
    spend(org, "Events", D(2026, 4, 1), D(2026, 4, 30), "6000")
    rollup.rollup(org, full=True)
    return org


def build_plan(history):
    services.budget_create(
        org=history, fiscal_year=2026, quarter=1, channel="Paid Search", planned_spend="9000"
    )
    services.budget_create(
        org=history, fiscal_year=2026, quarter=1, channel="events", planned_spend="4000",
        expected_cost_per_lead="2000", note="Two trade shows",
    )  # fmt: skip
    return history


def q1(org):
    return services.quarter_report(org=org, fiscal_year=2026, quarter=1, today=TODAY)


# --- Writes --------------------------------------------------------------------------------------


def test_channel_must_be_known_and_takes_its_canonical_spelling(history):
    line = services.budget_create(
        org=history, fiscal_year=2026, quarter=2, channel="  paid   search ", planned_spend=100
    )
    assert line.channel == "Paid Search"
    # Referral is known from its leads' facts, Tools from the ledger, Email from a source mapping.
    SourceMapping.objects.create(organization=history, raw_value="newsletter", channel="Email")
    assert services.known_channels(org=history) == ["Email", "Events", "Paid Search", "Referral", "Tools"]
    with pytest.raises(ServiceError) as error:
        services.budget_create(
            org=history, fiscal_year=2026, quarter=2, channel="Billboards", planned_spend=1
        )
    assert error.value.field == "channel"
    assert "known: Email, Events, Paid Search, Referral, Tools" in error.value.message


@pytest.mark.parametrize(
    "values, field",
    [
        ({"planned_spend": "-1"}, "planned_spend"),
        ({"planned_spend": "1.005"}, "planned_spend"),
        ({"planned_spend": "abc"}, "planned_spend"),
        ({"expected_cost_per_lead": "0"}, "expected_cost_per_lead"),
        ({"quarter": 5}, "quarter"),
        ({"fiscal_year": 1999}, "fiscal_year"),
        ({"segment": 999999}, "segment"),
        ({"note": "x" * 301}, "note"),
        ({"colour": "red"}, "colour"),
        ({"channel": ""}, "channel"),
    ],
)
def test_bad_input_names_its_field(history, values, field):
    base = {"fiscal_year": 2026, "quarter": 2, "channel": "Events", "planned_spend": "100"}
    with pytest.raises(ServiceError) as error:
        services.budget_create(org=history, **{**base, **values})
    assert error.value.field == field


def test_one_line_per_channel_segment_and_quarter(history, org):
    services.budget_create(org=history, fiscal_year=2026, quarter=2, channel="Events", planned_spend=100)
    with pytest.raises(ServiceError) as error:
        services.budget_create(org=history, fiscal_year=2026, quarter=2, channel="EVENTS", planned_spend=5)
    assert error.value.field == "channel" and error.value.code == "duplicate"
    icp = Segment.objects.create(organization=history, key="icp", name="ICP", is_icp=True)
    line = services.budget_create(
        org=history, fiscal_year=2026, quarter=2, channel="Events", segment=icp.pk, planned_spend=50
    )
    assert line.segment == icp
    updated = services.budget_update(org=history, line=line, planned_spend="75.50", note="Trimmed")
    assert (updated.planned_spend, updated.note, updated.segment) == (Decimal("75.50"), "Trimmed", icp)
    services.budget_delete(org=history, line=line)
    assert ChannelBudget.objects.for_org(history).count() == 1


def test_copy_last_quarter_keeps_existing_lines(plan):
    services.budget_create(org=plan, fiscal_year=2026, quarter=2, channel="Events", planned_spend="1")
    assert services.budget_copy_quarter(org=plan, fiscal_year=2026, quarter=2) == 1
    lines = {(line.channel, line.planned_spend) for line in services.lines_for_quarter(
        org=plan, fiscal_year=2026, quarter=2)}  # fmt: skip
    assert lines == {("Events", Decimal("1.00")), ("Paid Search", Decimal("9000.00"))}
    assert services.budget_copy_quarter(org=plan, fiscal_year=2026, quarter=2) == 0


# --- Plan against actual through the metric engine ------------------------------------------------


def test_history_window_is_the_four_quarters_before(history):
    assert services.history_range(history, 2026, 1, TODAY) == (D(2025, 1, 1), D(2025, 12, 31))
    # Planning ahead uses the latest full quarters: those before the current one (FY2026 Q2).
    assert services.history_range(history, 2026, 4, TODAY) == (D(2025, 4, 1), D(2026, 3, 31))


def test_line_plans_from_history(plan):
    report = q1(plan)
    search, events = (report.row_for(name).lines[0].plan for name in ("Paid Search", "Events"))
    # Paid Search: 12,000 ÷ 4 leads = 3,000 a lead; 2 opportunities of 4 leads; won deal 20,000.
    assert (search.cost_per_lead.value, search.conversion.value, search.deal_size.value) == (3000, 0.5, 20000)
    assert search.cost_per_lead.basis == "Paid Search's cost per lead 2025-01-01 to 2025-12-31"
    assert (search.expected_leads, search.expected_opportunities, search.expected_pipeline) == (3, 1.5, 30000)
    # Events: its own 2,000 a lead -> 2 leads; 1 opportunity of 2 leads; no deal won, so the
    # organisation's (20,000 + 40,000) ÷ 2 = 30,000.
    assert events.cost_per_lead.basis == "the line's own cost per lead"
    assert events.deal_size.value == 30000 and "Events won no deal" in events.deal_size.basis
    assert (events.expected_leads, events.expected_opportunities, events.expected_pipeline) == (2, 1, 30000)


def test_plan_against_actual_by_hand(plan):
    report = q1(plan)
    assert (report.start, report.end, report.measured_to, report.share) == (D(2026, 1, 1), D(2026, 3, 31),
                                                                           D(2026, 3, 31), 1)  # fmt: skip
    values = {row.channel: services.row_values(row) for row in report.rows}
    assert list(values) == ["Events", "Paid Search", "Tools"]
    search = values["Paid Search"]
    # Spend 9,900 against 9,000: +900, +10 %; the quarter has ended, so pace is 9,900 ÷ 9,000.
    assert (search["actual_spend"], search["spend_variance"], search["spend_variance_percent"]) == (
        9900,
        900,
        10,
    )
    assert search["spend_pace_percent"] == 110
    # 4 leads against 3: +1, +33.3 %. 1 opportunity against 1.5. 25,000 of pipeline against 30,000.
    assert (search["actual_leads"], search["leads_variance"], search["leads_variance_percent"]) == (
        4,
        1,
        33.3,
    )
    assert (search["expected_opportunities"], search["actual_opportunities"]) == (1.5, 1)
    assert (search["actual_pipeline"], search["pipeline_variance"], search["pipeline_variance_percent"]) == (
        25000, -5000, -16.7,
    )  # fmt: skip
    events = values["Events"]
    # 5,000 against 4,000 (+25 %); 1 lead against 2 (-50 %); no pipeline against 30,000 (-100 %).
    assert (events["spend_variance"], events["spend_variance_percent"]) == (1000, 25)
    assert (events["actual_leads"], events["leads_variance"], events["leads_variance_percent"]) == (
        1,
        -1,
        -50,
    )
    assert (events["actual_pipeline"], events["pipeline_variance_percent"]) == (0, -100)
    tools = values["Tools"]
    # Spend nobody planned: 310 against 0, no percent.
    assert (tools["in_plan"], tools["planned_spend"], tools["actual_spend"], tools["spend_variance"]) == (
        False, 0, 310, 310,
    )  # fmt: skip
    assert tools["spend_variance_percent"] is None and tools["expected_leads"] == 0
    totals = services.row_values(report.totals)
    # 13,000 planned, 15,210 spent (+2,210, +17 %); 5 leads each way; 2.5 opportunities against 1;
    # 60,000 of pipeline expected against 25,000 (-35,000, -58.3 %).
    assert (totals["planned_spend"], totals["actual_spend"], totals["spend_variance_percent"]) == (
        13000, 15210, 17,
    )  # fmt: skip
    assert (totals["expected_leads"], totals["actual_leads"], totals["leads_variance"]) == (5, 5, 0)
    assert (totals["expected_opportunities"], totals["actual_opportunities"]) == (2.5, 1)
    pipeline = (totals["expected_pipeline"], totals["pipeline_variance"], totals["pipeline_variance_percent"])
    assert pipeline == (60000, -35000, -58.3)


def test_no_history_and_segment_lines(plan):
    SourceMapping.objects.create(organization=plan, raw_value="newsletter", channel="Email")
    services.budget_create(org=plan, fiscal_year=2026, quarter=1, channel="Email", planned_spend="500")
    icp = Segment.objects.create(organization=plan, key="icp", name="ICP", is_icp=True)
    services.budget_create(
        org=plan, fiscal_year=2026, quarter=1, channel="Paid Search", segment=icp, planned_spend="3000"
    )
    report = q1(plan)
    email = report.row_for("Email")
    assert email.lines[0].plan.cost_per_lead == maths.Input(None, maths.NO_HISTORY)
    # Email had no leads: the organisation's 4 opportunities of 7 leads stand in for its conversion.
    assert email.lines[0].plan.conversion.value == pytest.approx(4 / 7)
    assert email.expected_leads is None and report.totals.expected_leads is None  # not quietly left out
    assert (email.planned_spend, email.actual_spend, email.spend.difference) == (500, 0, -500)
    # The ICP line plans 3,000 ÷ 3,000 = 1 more Paid Search lead; actuals stay per channel.
    search = report.row_for("Paid Search")
    assert (search.planned_spend, search.expected_leads, search.actual_spend) == (12000, 4, 9900)
    assert [lr.line.segment for lr in search.lines] == [None, icp]


def test_current_quarter_pace_and_a_quarter_not_started(plan):
    services.budget_create(org=plan, fiscal_year=2026, quarter=2, channel="Paid Search", planned_spend="9100")
    report = services.quarter_report(org=plan, fiscal_year=2026, quarter=2, today=TODAY)
    assert report.measured_to == TODAY and report.share == 45 / 91
    row = report.row_for("Paid Search")
    # 3,000 spent in April (nothing yet in May) against 9,100 x 45/91 = 4,500 by now: 66.7 % of pace.
    assert (row.actual_spend, services.row_values(row)["spend_pace_percent"]) == (3000, 66.7)
    assert services.row_values(row)["spend_variance_percent"] == -67.0
    services.budget_create(org=plan, fiscal_year=2026, quarter=3, channel="Paid Search", planned_spend="1")
    later = services.quarter_report(org=plan, fiscal_year=2026, quarter=3, today=TODAY)
    assert later.measured_to is None
    assert [(r.channel, r.actual_spend, r.spend_pace.percent) for r in later.rows] == [
        ("Paid Search", None, None)
    ]


def test_reallocation_over_april(history):
    result = services.reallocation(org=history, start=D(2026, 4, 1), end=D(2026, 4, 30), amount="3000")
    body = services.reallocation_as_dict(result)
    assert [(c["channel"], c["spend"], c["opportunities"], c["pipeline"], c["cost_per_opportunity"],
             c["pipeline_per_spend"], c["spend_share_percent"], c["pipeline_share_percent"], c["cost_rank"],
             c["pipeline_rank"]) for c in body["channels"]] == [
        ("Paid Search", 3000, 3, 30000, 1000, 10, 33.3, 75, 1, 1),
        ("Events", 6000, 2, 10000, 3000, 1.67, 66.7, 25, 2, 2),
    ]  # fmt: skip
    assert body["unpaid_channels"] == [{"channel": "Referral", "opportunities": 1, "pipeline": 40000}]
    move = body["move"]
    assert (move["from_channel"], move["to_channel"], move["amount"], move["net_opportunities"]) == (
        "Events", "Paid Search", 3000, 2,
    )  # fmt: skip
    assert move["sentence"].startswith("Moving 3,000 USD from Events to Paid Search would buy about 2.0 more")
    # Without an amount: a tenth of Events' 6,000.
    default = services.reallocation(org=history, start=D(2026, 4, 1), end=D(2026, 4, 30))
    assert (default.amount, default.move.net) == (600, pytest.approx(0.4))
    with pytest.raises(ServiceError) as error:
        services.reallocation(org=history, start=D(2026, 4, 1), end=D(2026, 4, 30), amount="-5")
    assert error.value.field == "amount"


def test_reallocation_default_window_is_the_last_90_days(history):
    assert services.reallocation_window(history, {}, TODAY) == (D(2026, 2, 15), TODAY)


def test_demo_budget_is_near_the_ledger_and_plans_the_icp(org):
    for channel in MONTHLY:
        spend(org, channel, D(2026, 1, 1), D(2026, 1, 31), "1")
    icp = Segment.objects.create(organization=org, key="icp", name="ICP", is_icp=True)
    assert seed_channel_budget(org) == 9  # four channels in two quarters, and the ICP's line
    lines = ChannelBudget.objects.for_org(org)
    assert {(line.fiscal_year, line.quarter) for line in lines} == {(2026, 1), (2026, 2)}
    search = lines.get(fiscal_year=2026, quarter=1, channel="Paid Search")
    # Three months of 18,000 is 54,000; the plan is 94 % of it, in whole hundreds.
    assert search.planned_spend == Decimal("50800")
    assert lines.get(segment=icp).channel == "Paid Search"
    assert seed_channel_budget(org) is None
