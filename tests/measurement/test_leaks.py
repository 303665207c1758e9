"""The leak finder on rolled-up facts written by hand, with the ranking and revenue at stake worked out.

Window: May 1-30 2026 (30 days); the trailing baseline is the 90 days before (Jan 31 - Apr 30).

    first entries / reached next stage      trailing                  May
    Inquiry -> MQL  Paid Social, Events      100/50, 100/50            50/25, 50/25
    MQL -> SAL      Paid Social, Events      100/80, 100/80            40/32, 40/32
    SAL -> SQL      Paid Social              100/60 (lag 4 days)       50/20 = 40 % (lag 10 days)
                    Events                   100/40                    50/22 = 44 %
                    overall                  200/100 = 50 %            100/42 = 42 %
                    team Enterprise          40/24 = 60 %              40/8 = 20 %
    SQL -> Opp      Paid Social              100/50                    30/18 = 60 %
                    Events                   100/50                    30/9 = 30 %
                    overall                  200/100 = 50 %            60/27 = 45 %
    Deals closed in the trailing window: 10 won (80,000), 30 lost: win rate 25 %, deal size 8,000.

Trailing: downstream of SAL -> SQL = 50 % (SQL -> Opp) x 25 % = 0.125; of SQL -> Opp = 0.25.

    team SAL -> SQL       40 x 0.40 x 0.125 x 8,000 = 16,000
    Events SQL -> Opp     30 x 0.20 x 0.25  x 8,000 = 12,000
    Paid Social SAL->SQL  50 x 0.20 x 0.125 x 8,000 = 10,000
    overall SAL -> SQL   100 x 0.08 x 0.125 x 8,000 =  8,000
    overall SQL -> Opp    60 x 0.05 x 0.25  x 8,000 =  6,000

The primary plan assumes SAL -> SQL 70 %, SQL -> Opp 50 %, win rate 25 %, deal size 10,000: downstream of
SAL -> SQL = 0.5 x 0.25 = 0.125, of SQL -> Opp 0.25. A group keeps the baseline with more at stake:

    overall SAL -> SQL   100 x 0.28 x 0.125 x 10,000 = 35,000
    Paid Social SAL->SQL  50 x 0.30 x 0.125 x 10,000 = 18,750
    Events SAL -> SQL     50 x 0.26 x 0.125 x 10,000 = 16,250 (it is above its own trailing rate)
    team SAL -> SQL       16,000 (a team is compared with its own trailing average only)
    Events SQL -> Opp     30 x 0.20 x 0.25  x 10,000 = 15,000 (trailing: 12,000)
    overall SQL -> Opp    60 x 0.05 x 0.25  x 10,000 =  7,500 (trailing: 6,000)
"""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.accounts.models import Team, TeamMember
from apps.measurement import leaks
from apps.measurement.models import CohortChannelDay, CohortDay, FunnelChannelDay, FunnelDay, OpportunityDay
from apps.strategy.models import SavedPlan
from tests import factories
from tests.conftest import api_client_for

pytestmark = pytest.mark.django_db

START, END = datetime.date(2026, 5, 1), datetime.date(2026, 5, 30)
BEFORE, NOW = datetime.date(2026, 4, 10), datetime.date(2026, 5, 10)
DAY = 86_400

# (from, to, channel): (trailing entries, trailing reached, May entries, May reached)
FUNNEL = {
    ("inquiry", "mql", "Paid Social"): (100, 50, 50, 25),
    ("inquiry", "mql", "Events"): (100, 50, 50, 25),
    ("mql", "sal", "Paid Social"): (100, 80, 40, 32),
    ("mql", "sal", "Events"): (100, 80, 40, 32),
    ("sal", "sql", "Paid Social"): (100, 60, 50, 20),
    ("sal", "sql", "Events"): (100, 40, 50, 22),
    ("sql", "opportunity", "Paid Social"): (100, 50, 30, 18),
    ("sql", "opportunity", "Events"): (100, 50, 30, 9),
}
LAGS = {("sal", "Paid Social"): (4, 10)}  # mean days: trailing, May


@pytest.fixture
def org(owner):
    org = factories.make_org(time_zone="UTC", owner=owner)
    for (from_stage, to_stage, channel), (entries, reached, entries_now, reached_now) in FUNNEL.items():
        lag_before, lag_now = LAGS.get((from_stage, channel), (0, 0))
        for day, n, r, lag in (
            (BEFORE, entries, reached, lag_before),
            (NOW, entries_now, reached_now, lag_now),
        ):
            FunnelChannelDay.objects.create(
                organization=org, day=day, stage=from_stage, channel=channel, first_entries=n
            )
            CohortChannelDay.objects.create(
                organization=org,
                day=day,
                from_stage=from_stage,
                to_stage=to_stage,
                channel=channel,
                reached=r,
                lag_seconds=r * lag * DAY,
            )
    OpportunityDay.objects.create(
        organization=org, day=BEFORE, type="new_business", won=10, lost=30, won_amount=Decimal(80000)
    )
    # The Enterprise team's one rep, on the detailed (by owner) facts.
    rep = factories.make_member(org)
    team = Team.objects.create(organization=org, name="Enterprise")
    TeamMember.objects.create(organization=org, team=team, membership=rep)
    for day, entries, reached in ((BEFORE, 40, 24), (NOW, 40, 8)):
        FunnelDay.objects.create(organization=org, day=day, stage="sal", owner=rep, first_entries=entries)
        CohortDay.objects.create(
            organization=org, day=day, from_stage="sal", to_stage="sql", owner=rep, reached=reached
        )
    org.team = team
    return org


def ranking(found):
    return [(leak.key, leak.baseline, leak.revenue_at_stake) for leak in found]


def test_leaks_against_the_trailing_average_are_ranked_by_revenue_at_stake(org):
    found = leaks.find_leaks(org, start=START, end=END)
    team = org.team.pk
    assert ranking(found) == [
        (f"leak:sal>sql:team:{team}", "trailing", 16000),
        ("leak:sql>opportunity:channel:events", "trailing", 12000),
        ("leak:sal>sql:channel:paid_social", "trailing", 10000),
        ("leak:sal>sql:overall", "trailing", 8000),
        ("leak:sql>opportunity:overall", "trailing", 6000),
    ]
    paid = found[2]
    assert (paid.actual_rate, paid.expected_rate, paid.volume) == (0.4, 0.6, 50)
    assert (paid.downstream_rate, paid.deal_size) == (0.125, 8000)
    assert (paid.actual_lag_days, paid.expected_lag_days) == (10, 4)
    assert paid.sentence == (
        "SAL → SQL for Paid Social fell to 40% from 60%; about $10k of bookings at stake, "
        "and it takes 10 days instead of 4"
    )
    assert found[0].group_label == "Enterprise"
    assert "group_by=team" in found[0].url and "from_stage=sal" in found[0].url
    # Overall lag: (20 x 10 + 22 x 0) / 42 = 4.8 days in May against (60 x 4 + 40 x 0) / 100 = 2.4 before.
    assert found[3].sentence == (
        "SAL → SQL overall fell to 42% from 50%; about $8k of bookings at stake, "
        "and it takes 5 days instead of 2"
    )
    assert paid.as_dict()["revenue_at_stake"] == 10000


def test_the_top_three_are_the_first_of_the_ranking(org):
    top = leaks.top_leaks(org, start=START, end=END)
    assert [leak.revenue_at_stake for leak in top] == [16000, 12000, 10000]


def test_the_primary_plan_is_a_baseline_and_the_larger_gap_wins(org):
    rates = {"inquiry": 50, "mql": 80, "sal": 70, "sql": 50, "opportunity": 25}
    params = {f"rate.{k}": str(v) for k, v in rates.items()}
    params.update({f"lag.{k}": "10" for k in rates})
    params.update({"deal_size": "10000", "target": "100000", "fiscal_year": "2026", "quarter": "2"})
    SavedPlan.objects.create(
        organization=org, name="Plan", fiscal_year=2026, quarter=2, params=params, is_primary=True
    )
    found = leaks.find_leaks(org, start=START, end=END)
    team = org.team.pk
    assert ranking(found) == [
        ("leak:sal>sql:overall", "plan", 35000),
        ("leak:sal>sql:channel:paid_social", "plan", 18750),
        ("leak:sal>sql:channel:events", "plan", 16250),
        (f"leak:sal>sql:team:{team}", "trailing", 16000),
        ("leak:sql>opportunity:channel:events", "plan", 15000),
        ("leak:sql>opportunity:overall", "plan", 7500),
    ]
    paid = found[1]
    assert (paid.plan_rate, paid.trailing_rate, paid.expected_rate) == (0.7, 0.6, 0.7)
    assert paid.sentence == (
        "SAL → SQL for Paid Social is at 40% against the plan's 70%; about $19k of bookings at stake"
    )


def test_small_groups_and_small_gaps_are_not_leaks(org):
    assert leaks.find_leaks(org, start=START, end=END, min_volume=101) == []
    # Without May's entries by channel only the team (read from the by-owner facts) has a volume to judge.
    FunnelChannelDay.objects.filter(organization=org, day=NOW).delete()
    assert [leak.dimension for leak in leaks.find_leaks(org, start=START, end=END)] == ["team"]
    # Rates at or above the baseline, or less than two points below it, are no leak.
    CohortDay.objects.filter(organization=org, day=NOW).update(reached=24)
    assert leaks.find_leaks(org, start=START, end=END) == []
    CohortDay.objects.filter(organization=org, day=NOW).update(reached=23)  # 57.5 % against 60 %
    assert [leak.dimension for leak in leaks.find_leaks(org, start=START, end=END)] == ["team"]
    CohortDay.objects.filter(organization=org, day=NOW).update(reached=24)
    FunnelDay.objects.filter(organization=org, day=NOW).update(first_entries=41)  # 58.5 %: 1.5 points
    assert leaks.find_leaks(org, start=START, end=END) == []


def test_the_page_the_csv_and_the_api_list_the_same_leaks(org, client, owner):
    client.force_login(owner)
    dates = {"from": START.isoformat(), "to": END.isoformat()}
    page = client.get(reverse("measurement_leaks", args=[org.slug]), dates)
    assert page.status_code == 200
    assert "SAL → SQL for Paid Social fell to 40% from 60%" in page.content.decode()
    export = client.get(reverse("measurement_leaks_export", args=[org.slug]), {**dates, "table": "leaks"})
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0].startswith("rank,sentence,key,")
    assert [line.rsplit(",", 1)[1] for line in lines[1:]] == [
        "16000.0",
        "12000.0",
        "10000.0",
        "8000.0",
        "6000.0",
    ]
    answer = api_client_for(org).get(reverse("api-leaks"), dates).json()
    assert [leak["revenue_at_stake"] for leak in answer["leaks"]] == [16000, 12000, 10000, 8000, 6000]
    assert answer["leaks"][2]["key"] == "leak:sal>sql:channel:paid_social"
    assert answer["red_flags"] == []
    refused = client.get(reverse("measurement_leaks", args=[org.slug]), {**dates, "channel": "Events"})
    assert refused.status_code == 400


def test_cohorts_are_judged_once_they_are_as_old_as_the_usual_lag(org):
    # Inquiry -> MQL takes 20 days for Paid Social before May (10 days on average over both channels):
    # its cohorts are judged on the window moved back by twice that, 11 April - 10 May.
    CohortChannelDay.objects.filter(
        organization=org, day=BEFORE, from_stage="inquiry", channel="Paid Social"
    ).update(lag_seconds=50 * 20 * DAY)
    # 50 Paid Social inquiries on 25 May have not converted yet: too young to judge.
    FunnelChannelDay.objects.create(
        organization=org,
        day=datetime.date(2026, 5, 25),
        stage="inquiry",
        channel="Paid Social",
        first_entries=50,
    )
    found = leaks.find_leaks(org, start=START, end=END)
    assert not [leak for leak in found if leak.from_stage == "inquiry"]
    sal = next(leak for leak in found if leak.key == "leak:sal>sql:overall")
    # SAL -> SQL took 2.4 days on average before May: moved back by 5 days (2 x 2.4, rounded).
    assert (sal.cohort_start, sal.cohort_end) == (datetime.date(2026, 4, 26), datetime.date(2026, 5, 25))
    # Judged on May's window as it is, the young cohort would make a leak: 50 of 150 against 50 %.
    CohortChannelDay.objects.filter(organization=org, from_stage="inquiry").update(lag_seconds=0)
    found = leaks.find_leaks(org, start=START, end=END)
    inquiry = [leak for leak in found if leak.key == "leak:inquiry>mql:overall"]
    assert inquiry and inquiry[0].actual_rate == round(50 / 150, 6)
