"""Writes to the system of record go through services that keep it consistent."""

import datetime

import pytest
from django.db import InternalError, transaction

from apps.core.errors import ServiceError
from apps.integrations.models import OutboxEvent
from apps.records import services
from apps.records.models import (
    CustomField,
    DuplicateCandidate,
    Lead,
    LifecycleStage,
    SourceMapping,
    StageDefinitionVersion,
    StageEvent,
)
from tests import factories

pytestmark = pytest.mark.django_db


def test_every_organisation_starts_with_the_default_funnel(org):
    keys = list(LifecycleStage.objects.for_org(org).values_list("key", flat=True))
    assert keys == ["inquiry", "mql", "sal", "sql", "opportunity", "customer", "recycled", "disqualified"]
    assert all(LifecycleStage.objects.for_org(org).values_list("entry_criteria", flat=True))
    version = StageDefinitionVersion.objects.for_org(org).get()
    assert version.number == 1 and len(version.snapshot) == 8


def test_lead_create_normalises_matches_flags_and_records(org):
    account = services.account_create(org=org, name="Acme", domain="https://www.acme.com")
    assert account.domain == "acme.com"
    SourceMapping.objects.create(
        organization=org, raw_value="li", channel="Paid Social", source_name="LinkedIn"
    )
    first = services.lead_create(
        org=org, email=" Ann@ACME.com", first_name=" Ann ", source="LI", company="Acme"
    )
    assert first.email == "ann@acme.com" and first.first_name == "Ann"
    assert first.account == account
    assert first.channel == "Paid Social"
    assert first.stage.key == "inquiry"
    event = StageEvent.objects.get(lead=first)
    assert (event.from_stage, event.to_stage, event.origin) == ("", "inquiry", "api")
    assert OutboxEvent.objects.filter(event_type="lead.created", payload__data__id=first.pk).exists()

    second = services.lead_create(org=org, email="ann@acme.com")
    candidate = DuplicateCandidate.objects.get(lead=second)
    assert candidate.other == first and candidate.reason == "email"


def test_free_mail_leads_do_not_join_accounts(org):
    services.account_create(org=org, name="Gmail?", domain="gmail.com")
    lead = services.lead_create(org=org, email="someone@gmail.com")
    assert lead.account is None


def test_an_account_created_later_collects_its_leads(org):
    lead = services.lead_create(org=org, email="cto@globex.test")
    account = services.account_create(org=org, name="Globex", domain="globex.test")
    lead.refresh_from_db()
    assert lead.account == account


def test_a_lead_needs_something_to_know_it_by(org):
    with pytest.raises(ServiceError) as error:
        services.lead_create(org=org, company="Nameless Inc")
    assert error.value.field == "email"
    assert not Lead.objects.for_org(org).exists()


def test_stage_change_appends_an_event_and_moves_the_lead(org, owner):
    lead = services.lead_create(org=org, email="a@b.test")
    event = services.lead_change_stage(
        org=org, lead=lead, to="mql", actor=owner, origin="ui", reason="Score 80"
    )
    lead.refresh_from_db()
    assert lead.stage.key == "mql" and lead.stage_entered_at == event.at
    assert (event.from_stage, event.to_stage, event.actor, event.reason) == (
        "inquiry",
        "mql",
        owner,
        "Score 80",
    )
    with pytest.raises(ServiceError):
        services.lead_change_stage(org=org, lead=lead, to="mql")
    with pytest.raises(ServiceError) as error:
        services.lead_change_stage(org=org, lead=lead, to="nirvana")
    assert error.value.field == "stage"
    assert OutboxEvent.objects.filter(event_type="stage.changed").count() == 1


def test_stage_events_cannot_be_rewritten(org):
    lead = services.lead_create(org=org, email="a@b.test")
    with pytest.raises(InternalError), transaction.atomic():
        StageEvent.objects.filter(lead=lead).update(to_stage="customer")


def test_a_machine_rule_moves_a_lead_forward(org):
    mql = LifecycleStage.objects.for_org(org).get(key="mql")
    services.stage_update(
        org=org, stage=mql, rule=[{"field": "score", "op": "gte", "value": 50}], note="Score rule"
    )
    lead = services.lead_create(org=org, email="a@b.test", score=20)
    assert lead.stage.key == "inquiry"
    services.lead_update(org=org, lead=lead, score=75)  # the rule is checked on every write
    lead.refresh_from_db()
    assert lead.stage.key == "mql"
    event = StageEvent.objects.filter(lead=lead).last()
    assert event.to_stage == "mql" and event.origin == "automation" and "MQL" in event.reason
    hot = services.lead_create(org=org, email="hot@b.test", score=90)
    assert hot.stage.key == "mql"


def test_stage_update_publishes_a_new_version(org, owner):
    sal = LifecycleStage.objects.for_org(org).get(key="sal")
    version = services.stage_update(
        org=org, stage=sal, actor=owner, entry_criteria="Accepted within 15 minutes.", note="Tighter SAL"
    )
    assert version.number == 2
    sal_snapshot = next(s for s in version.snapshot if s["key"] == "sal")
    assert sal_snapshot["entry_criteria"] == "Accepted within 15 minutes."
    with pytest.raises(ServiceError):
        services.stage_update(org=org, stage=sal, entry_criteria="  ")
    with pytest.raises(ServiceError):
        services.stage_update(org=org, stage=sal, rule=[{"field": "x", "op": "bogus"}])


def test_custom_fields_are_validated(org):
    CustomField.objects.create(organization=org, object_type="lead", key="tier", label="Tier", type="choice",
                               choices=["A", "B"])  # fmt: skip
    CustomField.objects.create(
        organization=org, object_type="lead", key="seats", label="Seats", type="number"
    )
    CustomField.objects.create(
        organization=org, object_type="lead", key="renewal", label="Renewal", type="date"
    )
    lead = services.lead_create(
        org=org, email="a@b.test", custom={"tier": "A", "seats": "12", "renewal": "2027-01-31"}
    )
    assert lead.custom == {"tier": "A", "seats": 12.0, "renewal": "2027-01-31"}
    for custom, field in [
        ({"tier": "Z"}, "custom.tier"),
        ({"seats": "many"}, "custom.seats"),
        ({"renewal": "31/01/2027"}, "custom.renewal"),
        ({"nope": 1}, "custom.nope"),
    ]:
        with pytest.raises(ServiceError) as error:
            services.lead_create(org=org, email="x@b.test", custom=custom)
        assert error.value.field == field
    services.lead_update(org=org, lead=lead, custom={"seats": 20})
    lead.refresh_from_db()
    assert lead.custom == {"tier": "A", "seats": 20.0, "renewal": "2027-01-31"}


def test_upsert_by_email_and_external_id(org):
    lead, created = services.lead_upsert(org=org, match_on="email", email="a@b.test", first_name="A")
    assert created
    same, created = services.lead_upsert(org=org, match_on="email", email="A@B.test", title="CEO")
    assert not created and same.pk == lead.pk and same.title == "CEO" and same.first_name == "A"
    by_id, created = services.lead_upsert(
        org=org, match_on="external_id", external_id="crm-1", email="c@d.test"
    )
    again, created_again = services.lead_upsert(
        org=org, match_on="external_id", external_id="crm-1", phone="1"
    )
    assert created and not created_again and again.pk == by_id.pk


def test_owner_and_account_must_belong_to_the_org(org, other_org):
    stranger = factories.make_member(other_org)
    foreign_account = services.account_create(org=other_org, name="Theirs", domain="theirs.test")
    with pytest.raises(ServiceError):
        services.lead_create(org=org, email="a@b.test", owner=stranger)
    with pytest.raises(ServiceError):
        services.lead_create(org=org, email="a@b.test", account=foreign_account)
    assert not Lead.objects.for_org(org).exists()


def test_opportunity_rules(org):
    with pytest.raises(ServiceError) as error:
        services.opportunity_create(org=org, name="Deal", amount=100, status="lost")
    assert error.value.field == "loss_reason"
    won = services.opportunity_create(org=org, name="Deal", amount=100, status="won")
    assert won.close_date is not None and won.currency == org.currency


def test_customer_dates(org):
    account = services.account_create(org=org, name="Acme", domain="acme.test")
    with pytest.raises(ServiceError):
        services.customer_create(
            org=org,
            account=account,
            arr=100,
            start_date=datetime.date(2026, 5, 1),
            churn_date=datetime.date(2026, 1, 1),
        )


def test_touchpoint_inherits_account_and_channel(org):
    SourceMapping.objects.create(organization=org, raw_value="newsletter", channel="Email")
    account = services.account_create(org=org, name="Acme", domain="acme.test")
    lead = services.lead_create(org=org, email="a@acme.test")
    touch = services.touchpoint_create(org=org, lead=lead, utm_source="Newsletter", type="email_click")
    assert touch.account == account and touch.channel == "Email"
    with pytest.raises(ServiceError):
        services.touchpoint_create(org=org, type="visit")
