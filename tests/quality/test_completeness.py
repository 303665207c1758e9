"""Completeness: custom weights, SQL and Python agreeing, fill rates, trends and the routing guard."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.core.errors import ServiceError
from apps.quality import selectors, services
from apps.quality.models import QualityJob
from apps.records import quality
from apps.records import services as records
from apps.records.models import CompletenessRule, CustomField, Lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def rules(org):
    """email 3 (required), company 2 (required), phone 1, custom.tier 4: a total weight of 10."""
    CustomField.objects.create(organization=org, object_type="lead", key="tier", label="Tier")
    CompletenessRule.objects.bulk_create(
        [
            CompletenessRule(organization=org, object_type="lead", field="email", weight=3, required=True),
            CompletenessRule(organization=org, object_type="lead", field="company", weight=2, required=True),
            CompletenessRule(organization=org, object_type="lead", field="phone", weight=1),
            CompletenessRule(organization=org, object_type="lead", field="custom.tier", weight=4),
        ]
    )


@pytest.fixture
def leads(org, rules, make_lead):
    return {
        "full": make_lead(email="a@x.test", company="Acme", phone="1", custom={"tier": "A"}),  # 10/10
        "no_tier": make_lead(email="b@x.test", company="Acme", phone="1"),  # 6/10
        "tier_only": make_lead(first_name="Cy", last_name="Young", custom={"tier": "B"}),  # 4/10
        "email_only": make_lead(email="d@x.test"),  # 3/10
    }


def test_scores_on_create_use_the_custom_weights(leads):
    assert {k: v.completeness for k, v in leads.items()} == {
        "full": 1.0,
        "no_tier": 0.6,
        "tier_only": 0.4,
        "email_only": 0.3,
    }


def test_summary_and_fill_rates_are_hand_computed(org, leads):
    summary = selectors.completeness_summary(org=org, object_type="lead", threshold=0.6)
    assert summary.records == 4
    assert summary.average == pytest.approx((1.0 + 0.6 + 0.4 + 0.3) / 4)
    assert summary.complete == 2  # full and no_tier reach 60% with e-mail and company present
    assert summary.missing_required == 2  # tier_only (no e-mail, no company), email_only (no company)
    assert summary.complete_rate == 0.5
    fills = {f.field: (f.filled, f.total, f.weight, f.required) for f in summary.fields}
    assert fills == {
        "custom.tier": (2, 4, 4, False),
        "email": (3, 4, 3, True),
        "company": (2, 4, 2, True),
        "phone": (2, 4, 1, False),
    }
    assert [f.field for f in summary.fields] == ["custom.tier", "email", "company", "phone"]  # by weight


def test_merged_leads_do_not_count(org, leads):
    services.lead_merge(org=org, survivor=leads["full"], merged=leads["email_only"])
    assert selectors.completeness_summary(org=org, object_type="lead").records == 3


def test_sql_score_agrees_with_the_python_score(org, rules, make_lead):
    samples = [
        make_lead(email="a@x.test"),
        make_lead(email="b@x.test", company="  Acme "),
        make_lead(first_name="Z", last_name="Z", phone="5", custom={"tier": ""}),
        make_lead(external_id="E-1", custom={"tier": 3}),
    ]
    Lead.objects.filter(pk__in=[s.pk for s in samples]).update(completeness=0)
    services.completeness_recompute(org=org, object_type="lead")
    rule_list = quality.rules_for(org=org, object_type="lead")
    for lead in samples:
        lead.refresh_from_db()
        assert lead.completeness == quality.score(quality.as_record(lead), rule_list), lead.pk


def test_rule_changes_queue_a_recompute_that_rewrites_stored_scores(
    org, owner, leads, django_capture_on_commit_callbacks
):
    rule = CompletenessRule.objects.get(organization=org, field="custom.tier")
    with django_capture_on_commit_callbacks() as callbacks:
        services.completeness_rule_update(org=org, rule=rule, weight=1, actor=owner)
    assert len(callbacks) == 2  # the recompute's enqueue, and the overview cache's invalidation
    job = QualityJob.objects.get(organization=org, kind="completeness", object_type="lead")

    from apps.quality.tasks import run_job

    assert run_job(org.pk, job.pk) == {"lead": 3}  # total weight 7 now: all but the full lead move
    scores = dict(Lead.objects.for_org(org).values_list("pk", "completeness"))
    assert scores[leads["full"].pk] == 1.0
    assert scores[leads["no_tier"].pk] == round(6 / 7, 4)
    assert scores[leads["tier_only"].pk] == round(1 / 7, 4)
    assert scores[leads["email_only"].pk] == round(3 / 7, 4)
    assert services.completeness_recompute(org=org, object_type="lead") == {"lead": 0}


def test_first_edit_keeps_the_defaults_and_deleting_all_brings_them_back(org):
    assert not CompletenessRule.objects.filter(organization=org).exists()
    services.completeness_rule_create(org=org, object_type="lead", field="utm_campaign", weight=2)
    fields = set(CompletenessRule.objects.filter(organization=org).values_list("field", flat=True))
    assert fields == {f for f, _, _ in quality.DEFAULT_RULES["lead"]} | {"utm_campaign"}

    for rule in CompletenessRule.objects.filter(organization=org):
        services.completeness_rule_delete(org=org, rule=rule)
    assert quality.rules_for(org=org, object_type="lead") == quality.DEFAULT_RULES["lead"]


def test_save_creates_or_updates(org):
    rule, created = services.completeness_rule_save(
        org=org, object_type="account", field="industry", weight=5, required=True
    )
    assert created is False and (rule.weight, rule.required) == (5, True)  # a default, now a row
    rule, created = services.completeness_rule_save(
        org=org, object_type="account", field="region", weight=2, required=False
    )
    assert created is True


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"object_type": "lead", "field": "salary"}, "field"),
        ({"object_type": "lead", "field": "custom.nope"}, "field"),
        ({"object_type": "lead", "field": "completeness"}, "field"),
        ({"object_type": "robot", "field": "email"}, "object_type"),
        ({"object_type": "lead", "field": "phone", "weight": 0}, "weight"),
        ({"object_type": "lead", "field": "phone", "weight": 101}, "weight"),
    ],
)
def test_invalid_rules_are_refused(org, kwargs, field):
    with pytest.raises(ServiceError) as error:
        services.completeness_rule_create(org=org, **kwargs)
    assert error.value.field == field


def test_account_and_opportunity_summaries(org):
    records.account_create(org=org, name="Acme", domain="acme.test", industry="Software")  # 2+3+1 of 8
    account = records.account_create(org=org, name="Bare")  # 2 of 8
    records.opportunity_create(org=org, name="Deal", account=account, amount=10)  # 2 + 2 of 7 (no close)
    overview = {s.object_type: s for s in selectors.completeness_overview(org=org, threshold=0.5)}
    assert overview["account"].average == pytest.approx((6 / 8 + 2 / 8) / 2)
    assert overview["account"].complete == 1
    assert overview["opportunity"].average == pytest.approx(round(4 / 7, 4))
    assert overview["opportunity"].missing_required == 1  # close_date
    assert overview["lead"].records == 0 and overview["lead"].average is None


def test_trends_group_by_week_of_creation(org, rules, make_lead):
    tz = ZoneInfo(org.time_zone)
    today = timezone.now().astimezone(tz).date()
    this_monday = today - timedelta(days=today.weekday())
    full = make_lead(email="a@x.test", company="Acme", phone="1", custom={"tier": "A"})  # 1.0, complete
    partial = make_lead(email="b@x.test")  # 0.3, misses company
    old = make_lead(email="c@x.test", company="Acme")  # 0.5, three weeks ago
    ancient = make_lead(email="d@x.test")  # older than the window
    Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(weeks=3))
    Lead.objects.filter(pk=ancient.pk).update(created_at=timezone.now() - timedelta(weeks=20))
    assert full and partial

    trends = selectors.completeness_trends(org=org)
    assert len(trends["weeks"]) == 12
    assert trends["weeks"][-1] == this_monday
    assert trends["weeks"][0] == this_monday - timedelta(weeks=11)
    assert trends["created"][-1] == 2 and trends["average"][-1] == pytest.approx(0.65)
    assert trends["missing_required"][-1] == 1
    assert trends["created"][-4] == 1 and trends["average"][-4] == 0.5 and trends["missing_required"][-4] == 0
    assert sum(trends["created"]) == 3
    assert trends["average"][0] is None  # a quiet week is a gap, not a zero score


def test_is_complete_enough(org, leads):
    assert selectors.is_complete_enough(lead=leads["full"], threshold=0.9)
    assert selectors.is_complete_enough(lead=leads["no_tier"], threshold=0.6)
    assert not selectors.is_complete_enough(lead=leads["no_tier"], threshold=0.7)
    # Enough weight but a required field missing: held back, and the reason names it.
    verdict = selectors.completeness_check(lead=leads["tier_only"], threshold=0.1)
    assert not verdict.ok and verdict.missing_required == ["email", "company"]
    assert verdict.reason == "Missing required: Email, Company."
