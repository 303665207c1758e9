"""Segment rules: validation, hand-computed fit scores, and the SQL compiler agreeing with Python.

The fixture (now = 2026-03-31 12:00 UTC):

    account  industry            employees  country
    Big      Software            2000       US
    Small    Manufacturing         40       DE

    lead   account  title          company  touches (last 30 d / older)
    ann    Big      VP Marketing   Big      2 / 1 (45 days ago)
    bob    Small    Engineer       Small    3 / 0
    cy     —        (blank)        (blank)  0 / 0
    dee    Big      VP Sales       Rival    0 / 0

ICP rules: Software or Financial services account 30; at least 200 employees 40;
title contains "vp" 20; two or more touches in 30 days 10; company is Rival -100.
Threshold 60. Scores: ann 30+40+20+10 = 100 (member), bob 10, cy 0,
dee 30+40+20-100 = -10.
"""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from apps.core.errors import ServiceError
from apps.records import services as records
from apps.records.models import Account, CustomField, Lead
from apps.strategy.models import SegmentMembership
from apps.strategy.segments import fields, scoring, sql
from apps.strategy.services import segments as services

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 31, 12, tzinfo=UTC)


def rule(name, points, field, op, value):
    return {"name": name, "conditions": [{"field": field, "op": op, "value": value}], "points": points}


ICP_RULES = [
    rule("Software", 30, "account.industry", "in", ["Software", "Financial services"]),
    rule("Large", 40, "account.employees", "gte", 200),
    rule("Senior", 20, "title", "contains", "vp"),
    rule("Engaged", 10, "touches_30d", "gte", 2),
    rule("Competitor", -100, "company", "equals", "Rival"),
]


@pytest.fixture
def world(org):
    big = records.account_create(org=org, name="Big", industry="Software", employees=2000, country="US")
    small = records.account_create(
        org=org, name="Small", industry="Manufacturing", employees=40, country="DE"
    )
    people = [
        ("ann", "VP Marketing", "Big", big),
        ("bob", "Engineer", "Small", small),
        ("cy", "", "", None),
        ("dee", "VP Sales", "Rival", big),
    ]
    leads = {
        name: records.lead_create(
            org=org, email=f"{name}@x.test", title=title, company=company, account=account
        )
        for name, title, company, account in people
    }
    for name, days in [("ann", 1), ("ann", 29), ("ann", 45), ("bob", 2), ("bob", 3), ("bob", 4)]:
        records.touchpoint_create(
            org=org, lead=leads[name], channel="Email", occurred_at=NOW - timedelta(days=days)
        )
    return leads


def python_scores(org, segment, leads):
    now_since = {days: NOW - timedelta(days=days) for days in (30, 90)}
    result = {}
    for name, lead in leads.items():
        lead = Lead.objects.select_related("account", "stage").get(pk=lead.pk)
        touches = [t.occurred_at for t in lead.touchpoints.all() if t.occurred_at <= NOW]
        record = scoring.record_of(
            lead, fields.LEAD,
            touches_30d=sum(at >= now_since[30] for at in touches),
            touches_90d=sum(at >= now_since[90] for at in touches),
        )  # fmt: skip
        result[name] = scoring.fit_score(segment.rules, record)
    return result


def sql_scores(org, segments, object_type=fields.LEAD) -> dict[tuple[int, int], int]:
    text, literals = sql.scores_statement(segments, object_type)
    with connection.cursor() as cursor:
        cursor.execute(text, {**literals, **sql.run_params(org.pk, NOW)})
        return {(record, segment): score for record, segment, score in cursor.fetchall()}


def test_hand_computed_fit_scores_in_python_and_sql(org, world):
    icp = services.segment_create(org=org, key="icp", name="ICP", is_icp=True, rules=ICP_RULES, threshold=60)

    assert python_scores(org, icp, world) == {"ann": 100, "bob": 10, "cy": 0, "dee": -10}
    by_sql = sql_scores(org, [icp])
    assert {name: by_sql[(lead.pk, icp.pk)] for name, lead in world.items()} == {
        "ann": 100, "bob": 10, "cy": 0, "dee": -10,
    }  # fmt: skip

    services.segment_recompute(org=org, segment=icp, now=NOW)
    members = SegmentMembership.objects.for_org(org).filter(segment=icp)
    assert {(m.lead_id, m.score) for m in members} == {(world["ann"].pk, 100)}
    icp.refresh_from_db()
    assert (icp.member_count, icp.recomputed_at) == (1, NOW)


def test_lowering_the_threshold_adds_members_and_a_recompute_removes_leavers(org, world):
    icp = services.segment_create(org=org, key="icp", name="ICP", rules=ICP_RULES, threshold=10)
    services.segment_recompute(org=org, segment=icp, now=NOW)
    assert set(SegmentMembership.objects.filter(segment=icp).values_list("lead_id", "score")) == {
        (world["ann"].pk, 100), (world["bob"].pk, 10),
    }  # fmt: skip

    services.segment_update(org=org, segment=icp, threshold=50)
    services.segment_recompute(org=org, segment=icp, now=NOW)
    assert list(SegmentMembership.objects.filter(segment=icp).values_list("lead_id", flat=True)) == [
        world["ann"].pk
    ]


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ([], "rules"),
        ([{"name": "", "conditions": [], "points": 1}], "rules[0].name"),
        ([{"name": "A", "conditions": [{"field": "title", "op": "equals", "value": "x"}], "points": "ten"}],
         "rules[0].points"),
        ([{"name": "A", "conditions": [], "points": 1}], "rules[0].conditions"),
        ([{"name": "A", "conditions": [{"field": "title", "op": "equals", "value": "x"}], "points": 1},
          {"name": "B", "conditions": [{"field": "shoe_size", "op": "equals", "value": 4}], "points": 1}],
         "rules[1].conditions[0].field"),
        ([{"name": "A", "conditions": [{"field": "custom.nope", "op": "equals", "value": 4}], "points": 1}],
         "rules[0].conditions[0].field"),
        ([{"name": "A", "conditions": [{"field": "title", "op": "like", "value": 4}], "points": 1}],
         "rules[0].conditions[0].op"),
        ([{"name": "A", "conditions": [{"field": "country", "op": "in", "value": "FR"}], "points": 1}],
         "rules[0].conditions[0].value"),
        ([{"name": "A", "conditions": [{"field": "country", "op": "equals"}], "points": 1}],
         "rules[0].conditions[0].value"),
    ],
)  # fmt: skip
def test_bad_rules_name_the_field(org, rules, field):
    with pytest.raises(ServiceError) as error:
        services.segment_create(org=org, key="s", name="S", rules=rules)
    assert error.value.field == field


def test_account_segments_cannot_read_lead_fields_and_keys_and_the_icp_are_unique(org):
    rule = [{"name": "A", "conditions": [{"field": "title", "op": "equals", "value": "x"}], "points": 1}]
    with pytest.raises(ServiceError) as error:
        services.segment_create(org=org, key="a", name="A", object_type="account", rules=rule)
    assert error.value.field == "rules[0].conditions[0].field"
    services.segment_create(org=org, key="icp", name="ICP", is_icp=True, rules=rule)
    with pytest.raises(ServiceError) as error:
        services.segment_create(org=org, key="icp", name="Again", rules=rule)
    assert error.value.field == "key"
    with pytest.raises(ServiceError) as error:
        services.segment_create(org=org, key="icp2", name="Second ICP", is_icp=True, rules=rule)
    assert error.value.field == "is_icp"


# --- SQL == Python on varied data ------------------------------------------------------------------

TEXTS = ["", "  ", "10", " 10 ", "9", "1e2", "abc", "ABC", "Abc Def", "vp sales", "Zeta", "-3.5", ".5", "x10"]
NUMBERS = [None, 0, 5, 10, 40, 200, 2000]
CUSTOM = [None, "", " ", "10", "gold", "Gold", 10, 2.5, 0, "-1", "2026-01-15"]
OPS_VALUES = ["", "10", 10, "abc", "ABC", "9", 9.5, "1e2", "a", "Z", "vp", "-3.5", "2026-01-01", 0, "gold"]


def _random_condition(rng, object_type):
    names = [name for name in fields.FIELDS[object_type] if not name.startswith("touches")] + [
        "touches_30d", "custom.tier",
    ]  # fmt: skip
    op = rng.choice(list(fields.conditions.OPERATORS))
    condition = {"field": rng.choice(names), "op": op}
    if op in {"in", "not_in"}:
        condition["value"] = rng.sample(OPS_VALUES, 3)
    elif op not in {"is_empty", "is_not_empty"}:
        condition["value"] = rng.choice([v for v in OPS_VALUES if v != ""])
    return condition


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_scores_equal_python_scores_on_varied_records(org, seed):
    rng = random.Random(seed)
    CustomField.objects.create(organization=org, object_type="lead", key="tier", label="Tier")
    CustomField.objects.create(organization=org, object_type="account", key="tier", label="Tier")
    accounts = [
        Account.objects.create(
            organization=org,
            name=rng.choice(TEXTS) or "n",
            industry=rng.choice(TEXTS),
            employees=rng.choice(NUMBERS),
            annual_revenue=rng.choice([None, 0, "1000000.00", "12.50"]),
            country=rng.choice(["", "US", "de"]),
            region=rng.choice(TEXTS),
            custom={"tier": rng.choice(CUSTOM)},
        )
        for _ in range(12)
    ]
    stage = records.stages_by_key(org)
    leads = []
    for index in range(40):
        custom = {} if index % 7 == 0 else {"tier": rng.choice(CUSTOM)}
        lead = Lead.objects.create(
            organization=org, email=rng.choice(TEXTS), title=rng.choice(TEXTS), company=rng.choice(TEXTS),
            country=rng.choice(["", "US", "FR"]), source=rng.choice(TEXTS), score=rng.choice([0, 5, 10, 50]),
            stage=stage[rng.choice(["inquiry", "mql", "sql"])], account=rng.choice([None, *accounts]),
            custom=custom,
        )  # fmt: skip
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            records.touchpoint_create(
                org=org, lead=lead, occurred_at=NOW - timedelta(days=rng.randint(0, 100))
            )
        leads.append(lead)
    for object_type, records_ in [(fields.LEAD, leads), (fields.ACCOUNT, accounts)]:
        segments = [
            services.segment_create(
                org=org,
                key=f"{object_type}-{n}",
                name=f"{object_type} {n}",
                object_type=object_type,
                rules=[
                    {
                        "name": f"R{i}",
                        "conditions": [
                            _random_condition(rng, object_type) for _ in range(rng.choice([1, 1, 2]))
                        ],
                        "points": rng.choice([5, 10, -5]),
                    }
                    for i in range(4)
                ],
                threshold=5,
            )
            for n in range(6)
        ]
        by_sql = sql_scores(org, segments, object_type)
        # The draw is varied enough to mean something: scores of both signs and zero.
        assert {score > 0 for score in by_sql.values()} == {True, False}
        for segment in segments:
            for record in records_:
                expected = _python_score(segment, object_type, record)
                assert by_sql[(record.pk, segment.pk)] == expected, (
                    segment.rules,
                    scoring_record(object_type, record),
                )


def scoring_record(object_type, record):
    if object_type == fields.LEAD:
        obj = Lead.objects.select_related("account", "stage").get(pk=record.pk)
    else:
        obj = Account.objects.get(pk=record.pk)
    touches = [t.occurred_at for t in obj.touchpoints.all()]
    return scoring.record_of(
        obj, object_type,
        touches_30d=sum(NOW - timedelta(days=30) <= at <= NOW for at in touches),
        touches_90d=sum(NOW - timedelta(days=90) <= at <= NOW for at in touches),
    )  # fmt: skip


def _python_score(segment, object_type, record):
    return scoring.fit_score(segment.rules, scoring_record(object_type, record))


def test_membership_conditions_on_a_list_of_segment_keys():
    from apps.records.conditions import holds

    record = {"segments": ["emea", "icp"], "none": []}
    assert holds({"field": "segments", "op": "contains", "value": "ICP"}, record)
    assert not holds({"field": "segments", "op": "contains", "value": "ic"}, record)  # whole keys only
    assert holds({"field": "segments", "op": "in", "value": ["enterprise", "emea"]}, record)
    assert not holds({"field": "segments", "op": "not_in", "value": ["enterprise", "emea"]}, record)
    assert holds({"field": "none", "op": "not_in", "value": ["icp"]}, record)
    assert not holds({"field": "none", "op": "contains", "value": "icp"}, record)
