"""Set-up services: queues and members, rep profiles, calendars, reject reasons,
SLA policies and draft rule edits — what they accept, what they refuse and which field they blame."""

import datetime

import pytest

from apps.accounts import services as account_services
from apps.core.errors import ServiceError
from apps.execution.models import PoolMember, RejectReason, RoutingPolicyVersion
from apps.execution.routing import types
from apps.execution.services import policies
from apps.execution.services import setup as services
from tests import factories

from .conftest import make_rep, pool_rule, pool_with_reps, publish_policy

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


def refused(field, call, **kwargs):
    with pytest.raises(ServiceError) as info:
        call(**kwargs)
    assert info.value.field == field, info.value.message
    return info.value


# --- Queues ---------------------------------------------------------------------------------------


def test_pool_create_checks_name_strategy_and_team(org, other_org):
    pool = services.pool_create(org=org, name=" EMEA SDRs ", strategy=types.WEIGHTED)
    assert (pool.name, pool.strategy) == ("EMEA SDRs", types.WEIGHTED)
    refused("name", services.pool_create, org=org, name="emea sdrs")
    refused("name", services.pool_create, org=org, name="  ")
    refused("strategy", services.pool_create, org=org, name="US", strategy="random")
    their_team = account_services.team_create(org=other_org, name="Theirs")
    refused("team", services.pool_create, org=org, name="US", team=their_team)


def test_a_member_removed_and_added_back_keeps_their_ledger(org):
    ana = make_rep(org, "Ana Ruiz")
    pool = services.pool_create(org=org, name="SDRs")
    member = services.pool_member_add(
        org=org, pool=pool, membership=ana, weight=2, territories=[" fr", "DE", "FR"]
    )
    assert member.territories == ["FR", "DE"]
    PoolMember.objects.filter(pk=member.pk).update(
        assigned_count=7, rejected_count=2, credits=1, pass_value=4.5
    )

    services.pool_member_update(org=org, member=member, weight=2, territories=["FR"], is_active=False)
    member.refresh_from_db()
    assert not member.is_active and member.assigned_count == 7

    again = services.pool_member_add(org=org, pool=pool, membership=ana, weight=3)
    assert again.pk == member.pk
    again.refresh_from_db()
    assert again.is_active and again.weight == 3
    assert (again.assigned_count, again.rejected_count, again.credits, again.pass_value) == (7, 2, 1, 4.5)
    assert PoolMember.objects.filter(pool=pool).count() == 1


def test_adding_someone_twice_or_from_elsewhere_is_refused(org, other_org):
    ana = make_rep(org, "Ana Ruiz")
    pool = services.pool_create(org=org, name="SDRs")
    services.pool_member_add(org=org, pool=pool, membership=ana)
    refused("membership", services.pool_member_add, org=org, pool=pool, membership=ana)
    stranger = factories.make_member(other_org)
    refused("membership", services.pool_member_add, org=org, pool=pool, membership=stranger)
    bob = make_rep(org, "Bo Lind")
    refused("weight", services.pool_member_add, org=org, pool=pool, membership=bob, weight=0)


def test_a_queue_the_rules_use_cannot_be_deleted(org):
    used = pool_with_reps(org, [make_rep(org, "Ana Ruiz")], name="Used")
    fallback = services.pool_create(org=org, name="Catch-all")
    publish_policy(org, rules=[pool_rule(used, "EMEA")], fallback_pool=fallback)

    error = refused(None, services.pool_delete, org=org, pool=used)
    assert error.code == "in_use" and 'rule 1 "EMEA" of version 1 (published)' in error.message
    error = refused(None, services.pool_delete, org=org, pool=fallback)
    assert "the fallback queue of version 1" in error.message

    spare = services.pool_create(org=org, name="Spare")
    services.pool_delete(org=org, pool=spare)
    assert not type(spare).objects.filter(pk=spare.pk).exists()


def test_a_queue_only_in_the_draft_is_also_protected(org):
    pool = services.pool_create(org=org, name="New team")
    services.routing_rule_save(org=org, rule=pool_rule(pool, "Try it"))
    error = refused(None, services.pool_delete, org=org, pool=pool)
    assert "(draft)" in error.message


# --- Reps ----------------------------------------------------------------------------------------


def test_rep_profile_validates_hours_and_names_the_day(org):
    ana = factories.make_member(org)
    error = refused(
        "hours.tue",
        services.rep_profile_update,
        org=org,
        membership=ana,
        hours={"mon": [["09:00", "17:00"]], "tue": [["18:00", "09:00"]]},
    )
    assert "tue" in error.message
    refused("time_zone", services.rep_profile_update, org=org, membership=ana, time_zone="Mars/Olympus")
    refused("daily_cap", services.rep_profile_update, org=org, membership=ana, daily_cap=-1)

    profile = services.rep_profile_update(
        org=org, membership=ana, hours={"mon": [["9:00", "12:00"], ["13:00", "17:00"]]},
        time_zone="Europe/Paris", daily_cap=20, available=False,
    )  # fmt: skip
    assert profile.hours["mon"] == [["09:00", "12:00"], ["13:00", "17:00"]] and profile.hours["sun"] == []
    assert (profile.time_zone, profile.daily_cap, profile.available) == ("Europe/Paris", 20, False)
    # Fields not given are kept.
    profile = services.rep_profile_update(org=org, membership=ana, open_cap=5)
    assert (profile.daily_cap, profile.open_cap, profile.available) == (20, 5, False)


def test_absence_must_end_after_it_starts(org):
    ana = factories.make_member(org)
    start = datetime.datetime(2026, 7, 1, 9, tzinfo=UTC)
    refused("ends_at", services.absence_create, org=org, membership=ana, starts_at=start, ends_at=start)
    refused(
        "starts_at", services.absence_create, org=org, membership=ana, starts_at=start.replace(tzinfo=None),
        ends_at=start,
    )  # fmt: skip
    absence = services.absence_create(
        org=org, membership=ana, starts_at=start, ends_at=start + datetime.timedelta(days=7), note="Holiday"
    )
    services.absence_delete(org=org, absence=absence)
    assert not type(absence).objects.filter(pk=absence.pk).exists()


# --- Calendars -----------------------------------------------------------------------------------


def test_calendar_validates_hours_holidays_and_team(org):
    team = account_services.team_create(org=org, name="Paris")
    calendar = services.calendar_create(
        org=org,
        name="Paris office",
        time_zone="Europe/Paris",
        hours={"mon": [["09:00", "18:00"]]},
        holidays=[{"date": "2026-12-25", "name": "Noël"}, {"date": "2026-05-01", "name": "Fête du travail"}],
        team=team,
    )
    assert [h["date"] for h in calendar.holidays] == ["2026-05-01", "2026-12-25"]
    kwargs = {"org": org, "name": "Other", "time_zone": "UTC", "hours": {}}
    refused("team", services.calendar_create, **kwargs, team=team)
    refused("hours.wed", services.calendar_create, **{**kwargs, "hours": {"wed": [["25:00", "26:00"]]}})
    refused("holidays", services.calendar_create, **kwargs, holidays=[{"date": "25/12/2026"}])
    refused(
        "holidays",
        services.calendar_create,
        **kwargs,
        holidays=[{"date": "2026-01-01"}, {"date": "2026-01-01"}],
    )
    refused("time_zone", services.calendar_create, **{**kwargs, "time_zone": "Paris"})
    refused("name", services.calendar_create, **{**kwargs, "name": "paris office"})


# --- Reject reasons ------------------------------------------------------------------------------


def test_default_reasons_install_once_and_respect_edits(org):
    # A new organisation gets them on creation; start from none to see the install itself.
    RejectReason.objects.for_org(org).delete()
    added = services.reject_reasons_install_defaults(org=org)
    keys = list(RejectReason.objects.for_org(org).values_list("key", flat=True))
    assert added == len(services.DEFAULT_REJECT_REASONS) == len(keys)
    assert {"not_icp", "duplicate", "wrong_territory", "bad_data", "existing_customer", "no_budget"} <= set(
        keys
    )

    not_icp = RejectReason.objects.get(organization=org, key="not_icp")
    services.reject_reason_update(org=org, reason=not_icp, label="Outside our ICP", is_active=False)
    assert services.reject_reasons_install_defaults(org=org) == 0
    not_icp.refresh_from_db()
    assert (not_icp.label, not_icp.is_active) == ("Outside our ICP", False)


def test_reject_reason_keys_are_unique_and_stable(org):
    reason = services.reject_reason_create(org=org, label="Wrong product line")
    assert reason.key == "wrong_product_line"
    refused("label", services.reject_reason_create, org=org, label="Wrong product-line")
    refused("label", services.reject_reason_update, org=org, reason=reason, label=" ")
    services.reject_reason_update(org=org, reason=reason, label="Another product")
    reason.refresh_from_db()
    assert (reason.key, reason.label) == ("wrong_product_line", "Another product")


# --- SLA policies --------------------------------------------------------------------------------


def test_sla_policy_validates_ladder_conditions_and_stage(org, other_org):
    base = {"org": org, "name": "Accept fast", "target_minutes": 15}
    error = refused(
        "escalation[0].action", services.sla_policy_create, **base, escalation=[{"at_minutes": 5}]
    )
    assert "remind" in error.message
    refused("conditions", services.sla_policy_create, **base, conditions=[{"field": "country", "op": "near"}])
    refused("stage", services.sla_policy_create, **base, stage="nowhere")
    refused("target_minutes", services.sla_policy_create, **{**base, "target_minutes": 0})
    their_calendar = services.calendar_create(org=other_org, name="Theirs", time_zone="UTC", hours={})
    refused("calendar", services.sla_policy_create, **base, calendar=their_calendar)

    policy = services.sla_policy_create(
        **base,
        stage="mql",
        conditions=[{"field": "country", "op": "in", "value": ["FR"]}],
        escalation=[{"at_minutes": 30, "action": "reassign"}, {"at_minutes": 10, "action": "remind"}],
    )
    assert [s["at_minutes"] for s in policy.escalation] == [10, 30]
    refused("name", services.sla_policy_create, **{**base, "name": "accept FAST"})
    updated = services.sla_policy_update(
        org=org, policy=policy, name="Accept fast", target_minutes=20, clock="first_touch", is_active=False
    )
    assert (updated.target_minutes, updated.clock, updated.is_active, updated.escalation) == (
        20, "first_touch", False, [],
    )  # fmt: skip


# --- Draft rules ---------------------------------------------------------------------------------


def draft_rules(org):
    return [rule["name"] for rule in policies.draft_for(org=org, policy=policies.policy_for(org)).rules]


def test_rule_edits_build_a_draft_from_the_published_version(org, owner):
    pool = pool_with_reps(org, [make_rep(org, "Ana Ruiz")])
    published = publish_policy(org, rules=[pool_rule(pool, "A"), pool_rule(pool, "B")], fallback_pool=pool)

    draft = services.routing_rule_save(org=org, rule=pool_rule(pool, "C"), actor=owner)
    assert draft.pk != published.pk and draft.status == RoutingPolicyVersion.Status.DRAFT
    assert draft_rules(org) == ["A", "B", "C"] and draft.fallback_pool_id == pool.pk

    services.routing_rule_move(org=org, index=2, direction="up")
    assert draft_rules(org) == ["A", "C", "B"]
    services.routing_rule_move(org=org, index=0, direction="up")  # already first: nothing moves
    assert draft_rules(org) == ["A", "C", "B"]
    services.routing_rule_save(org=org, index=0, rule=pool_rule(pool, "A2"))
    services.routing_rule_delete(org=org, index=1)
    assert draft_rules(org) == ["A2", "B"]
    published.refresh_from_db()
    assert [r["name"] for r in published.rules] == ["A", "B"]  # the live version never changes

    refused(None, services.routing_rule_delete, org=org, index=5)
    refused("direction", services.routing_rule_move, org=org, index=0, direction="sideways")


def test_rule_errors_name_the_rules_own_fields(org):
    pool = services.pool_create(org=org, name="SDRs")
    refused(
        "action.pool", services.routing_rule_save, org=org, rule={"name": "X", "action": {"type": "pool"}}
    )
    refused(
        "conditions",
        services.routing_rule_save,
        org=org,
        rule={"name": "X", "conditions": [{"field": "country"}], "action": {"type": "pool", "pool": pool.pk}},
    )
    refused(
        "action.person", services.routing_rule_save, org=org, rule={"name": "X", "action": {"type": "person"}}
    )
    assert draft_rules(org) == []


def test_fallback_queue_is_set_and_cleared_in_the_draft(org, other_org):
    pool = services.pool_create(org=org, name="Catch-all")
    assert services.routing_fallback_set(org=org, pool=pool).fallback_pool_id == pool.pk
    assert services.routing_fallback_set(org=org, pool=None).fallback_pool_id is None
    theirs = services.pool_create(org=other_org, name="Theirs")
    refused("fallback_pool", services.routing_fallback_set, org=org, pool=theirs)
