"""Membership kept current: on every record write (one statement, none without segments),
by the nightly run and the command, through merges; and segments as a routing condition."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.errors import ServiceError
from apps.execution.routing import types
from apps.quality.services import lead_merge
from apps.records import services as records
from apps.strategy.models import SegmentMembership
from apps.strategy.segments import tasks
from apps.strategy.services import segments as services
from tests.execution.conftest import make_rep, pool_rule, pool_with_reps, publish_policy, route_pending

pytestmark = pytest.mark.django_db


def rule(name, points, field, op, value=None):
    condition = {"field": field, "op": op} | ({} if value is None else {"value": value})
    return {"name": name, "conditions": [condition], "points": points}


@pytest.fixture
def emea(org):
    return services.segment_create(
        org=org, key="emea", name="EMEA", threshold=10,
        rules=[
            rule("Europe", 10, "country", "in", ["FR", "DE", "GB"]),
            rule("Big", 5, "account.employees", "gte", 500),
        ],
    )  # fmt: skip


@pytest.fixture
def large_accounts(org):
    return services.segment_create(
        org=org, key="large", name="Large accounts", object_type="account", threshold=1,
        rules=[rule("Big", 1, "employees", "gte", 500)],
    )  # fmt: skip


def member_ids(segment):
    return set(SegmentMembership.objects.filter(segment=segment).values_list("lead_id", "account_id"))


def test_a_lead_joins_and_leaves_as_it_is_written(org, emea):
    lead = records.lead_create(org=org, email="jo@example.test", country="fr")
    assert member_ids(emea) == {(lead.pk, None)}
    assert SegmentMembership.objects.get(segment=emea).score == 10

    records.lead_update(org=org, lead=lead, country="US")
    assert member_ids(emea) == set()


def test_an_account_write_updates_its_own_memberships_and_its_leads(org, emea, large_accounts):
    account = records.account_create(org=org, name="Acme", domain="acme.test", employees=100)
    lead = records.lead_create(org=org, email="jo@acme.test", country="DE")
    assert lead.account_id == account.pk
    assert SegmentMembership.objects.get(segment=emea, lead=lead).score == 10
    assert member_ids(large_accounts) == set()

    records.account_update(org=org, account=account, employees=900)
    assert SegmentMembership.objects.get(segment=emea, lead=lead).score == 15
    assert member_ids(large_accounts) == {(None, account.pk)}


def test_touchpoints_move_segments_that_score_recent_touches(org, emea, large_accounts):
    engaged = services.segment_create(
        org=org,
        key="engaged",
        name="Engaged",
        threshold=2,
        rules=[rule("Active", 2, "touches_30d", "gte", 2)],
    )
    busy = services.segment_create(
        org=org, key="busy", name="Busy accounts", object_type="account", threshold=1,
        rules=[rule("Active", 1, "touches_90d", "gte", 1)],
    )  # fmt: skip
    account = records.account_create(org=org, name="Acme", domain="acme.test")
    lead = records.lead_create(org=org, email="jo@acme.test")
    records.touchpoint_create(org=org, lead=lead, source="Webinar")
    assert member_ids(engaged) == set()
    assert member_ids(busy) == {(None, account.pk)}  # the lead's touchpoint is its account's too

    records.touchpoint_create(org=org, lead=lead, source="Webinar")
    assert member_ids(engaged) == {(lead.pk, None)}


def test_touchpoints_cost_nothing_where_no_rule_reads_touches(org, emea, large_accounts):
    lead = records.lead_create(org=org, email="jo@example.test", country="FR")
    records.touchpoint_create(org=org, lead=lead, source="Webinar")  # the statements are cached now
    with CaptureQueriesContext(connection) as captured:
        services.refresh_on_touch(org=org, lead_id=lead.pk, account_id=None)
    assert captured.captured_queries == []


def test_a_write_costs_one_statement_with_segments_and_none_without(org, emea):
    lead = records.lead_create(org=org, email="jo@example.test", country="FR")
    with CaptureQueriesContext(connection) as captured:
        services.refresh_lead(org=org, lead_id=lead.pk)
    assert len(captured.captured_queries) == 1

    services.segment_delete(org=org, segment=emea)
    services.refresh_lead(org=org, lead_id=lead.pk)  # reads that there are none, once
    with CaptureQueriesContext(connection) as captured:
        services.refresh_lead(org=org, lead_id=lead.pk)
        services.refresh_account(org=org, account_id=1)
    assert captured.captured_queries == []


def test_editing_a_segment_drops_the_cached_statement(org, emea):
    lead = records.lead_create(org=org, email="jo@example.test", country="ES")
    assert member_ids(emea) == set()
    services.segment_update(org=org, segment=emea, rules=[rule("Spain", 10, "country", "equals", "ES")])
    assert member_ids(emea) == {(lead.pk, None)}  # the recompute on save
    other = records.lead_create(org=org, email="al@example.test", country="es")
    assert member_ids(emea) == {(lead.pk, None), (other.pk, None)}  # the new statement on write


def test_a_merged_away_lead_leaves_its_segments(org, owner, emea):
    keep = records.lead_create(org=org, email="jo@example.test", country="FR")
    lose = records.lead_create(org=org, email="jo.b@example.test", country="FR")
    lead_merge(org=org, survivor=keep, merged=lose, actor=owner)
    assert member_ids(emea) == {(keep.pk, None)}


def test_the_nightly_run_and_the_command_recompute_everything(org, emea, large_accounts):
    lead = records.lead_create(org=org, email="jo@example.test", country="FR")
    SegmentMembership.objects.all().delete()  # as if a bulk load had skipped the upkeep

    result = tasks.segments_recompute_organization(org.pk)
    assert result == {"emea": 1, "large": 0}
    emea.refresh_from_db()
    assert (emea.member_count, emea.recomputed_at is not None) == (1, True)
    assert member_ids(emea) == {(lead.pk, None)}

    SegmentMembership.objects.all().delete()
    out, err = StringIO(), StringIO()
    call_command("segments_recompute", "--org", org.slug, stdout=out, stderr=err)
    assert member_ids(emea) == {(lead.pk, None)}
    assert "emea 1" in out.getvalue() and "100%" in err.getvalue()


def test_the_nightly_beat_queues_every_organisation_with_segments(org, other_org, emea, monkeypatch):
    queued = []
    monkeypatch.setattr(tasks.segments_recompute_organization, "delay", queued.append)
    tasks.segments_nightly()
    assert queued == [org.pk]


def test_a_routing_rule_on_segment_membership_routes_accordingly(org, owner, emea):
    ana, bob = make_rep(org, "Ana Ruiz"), make_rep(org, "Bob Lee")
    europe, rest = pool_with_reps(org, [ana], name="EMEA"), pool_with_reps(org, [bob], name="Rest")
    segment_rule = pool_rule(europe, "EMEA segment", {"field": "segments", "op": "contains", "value": "emea"})
    publish_policy(org, rules=[segment_rule, pool_rule(rest, "Everyone")], fallback_pool=rest, actor=owner)

    inside = route_pending(records.lead_create(org=org, email="jo@example.test", country="FR"))
    outside = route_pending(records.lead_create(org=org, email="al@example.test", country="US"))

    assert (inside.rule_name, inside.assignee_id) == ("EMEA segment", ana.pk)
    assert (outside.rule_name, outside.assignee_id) == ("Everyone", bob.pk)
    assert inside.outcome == outside.outcome == types.ASSIGNED


def test_a_segment_routing_or_journeys_name_cannot_be_renamed_or_deleted(org, owner, emea):
    rest = pool_with_reps(org, [make_rep(org, "Bob Lee")], name="Rest")
    on_emea = pool_rule(rest, "EMEA", {"field": "segments", "op": "contains", "value": "emea"})
    publish_policy(org, rules=[on_emea], fallback_pool=rest, actor=owner)

    with pytest.raises(ServiceError) as renamed:
        services.segment_update(org=org, segment=emea, key="europe")
    assert renamed.value.field == "key"
    assert "Lead routing (routing, published)" in str(renamed.value)
    with pytest.raises(ServiceError):
        services.segment_delete(org=org, segment=emea)
    emea.refresh_from_db()
    assert emea.key == "emea"

    # Other edits stay free, and a segment nobody names can be renamed.
    services.segment_update(org=org, segment=emea, name="Europe")
    spare = services.segment_create(
        org=org, key="spare", name="Spare", threshold=1, rules=[rule("Any", 1, "country", "is_not_empty")]
    )
    assert services.segment_update(org=org, segment=spare, key="spare-2").key == "spare-2"


def test_names_segment_finds_conditions_entries_and_branches():
    assert services._names_segment(
        [{"conditions": [{"field": "segments", "op": "in", "value": ["a", "emea"]}]}], "emea"
    )
    assert services._names_segment({"type": "segment_joined", "segment": "emea"}, "emea")
    assert services._names_segment([{"type": "branch", "config": {"segment": "emea"}}], "emea")
    assert not services._names_segment([{"field": "country", "value": "emea"}, {"segment": "emea-2"}], "emea")
