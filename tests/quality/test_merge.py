"""Merge with field-level survivorship, re-pointed rows, hidden merged leads, and an exact undo."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.core.errors import ServiceError
from apps.quality import selectors, services, survivorship
from apps.records import services as records
from apps.records.models import DuplicateCandidate, Lead, Merge, Opportunity, StageEvent, Touchpoint
from apps.records.stages import DETOUR, FUNNEL

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def lead_state(lead: Lead) -> dict:
    """Every column of the lead, from the database."""
    row = Lead.objects.filter(pk=lead.pk).values().get()
    return row


def relations(org) -> dict:
    return {
        "touchpoints": sorted(Touchpoint.objects.for_org(org).values_list("pk", "lead_id")),
        "opportunities": sorted(Opportunity.objects.for_org(org).values_list("pk", "primary_contact_id")),
        "pairs": sorted(
            DuplicateCandidate.objects.for_org(org).values_list("pk", "lead_id", "other_id", "status")
        ),
        "stage_events": sorted(StageEvent.objects.for_org(org).values_list("pk", "lead_id", "to_stage")),
    }


@pytest.fixture
def pair(org, make_lead):
    """Two records of Ada: an older, thinner one (the survivor) and a newer one with more data."""
    survivor = make_lead(
        email="ada@acme.test",
        first_name="Ada",
        last_name="Lovelace",
        company="Acme",
        score=10,
        captured_at=T0 + timedelta(days=3),
        source="web",
        custom=None,
    )
    merged = make_lead(
        email="ada.lovelace@acme.test",
        first_name="Augusta Ada",
        last_name="Lovelace",
        title="Analyst",
        phone="+44 20 1234",
        company="Acme Inc",
        score=40,
        captured_at=T0,
        source="li",
        external_id="CRM-7",
        stage="sql",
    )
    return survivor, merged


# --- Pure survivorship rules -------------------------------------------------------------


STAGES = {1: (FUNNEL, 10), 3: (FUNNEL, 30), 4: (FUNNEL, 40), 8: (DETOUR, 80)}


@pytest.mark.parametrize(
    "field, mine, theirs, expected",
    [
        ("phone", "", "+1 555", "merged"),  # survivor empty: take the merged value
        ("phone", "+44", "+1 555", "survivor"),  # both filled: keep the survivor's
        ("phone", "+44", "", "survivor"),
        ("score", 10, 40, "merged"),  # the higher score
        ("score", 50, 40, "survivor"),
        ("captured_at", T0 + timedelta(days=1), T0, "merged"),  # the earlier capture
        ("captured_at", T0, T0 + timedelta(days=1), "survivor"),
        ("stage", 1, 4, "merged"),  # further funnel stage
        ("stage", 4, 3, "survivor"),
        ("stage", 8, 3, "merged"),  # a detour loses to any funnel stage
        ("stage", 3, 8, "survivor"),  # ...and a funnel stage keeps against a detour
    ],
)
def test_rule_side(field, mine, theirs, expected):
    side, why = survivorship.rule_side(field, {field: mine}, {field: theirs}, stages=STAGES)
    assert side == expected, why


def test_email_rule_prefers_the_most_recently_updated_record():
    older = {"email": "a@x.test", "updated_at": T0}
    newer = {"email": "b@x.test", "updated_at": T0 + timedelta(hours=1)}
    assert survivorship.rule_side("email", older, newer, stages={})[0] == "merged"
    assert survivorship.rule_side("email", newer, older, stages={})[0] == "survivor"
    assert survivorship.rule_side("email", {"email": "", "updated_at": T0}, older, stages={})[0] == "merged"


def test_explicit_choices_override_and_only_differing_fields_are_decided():
    mine = {"phone": "+44", "title": "CEO", "company": "Acme"}
    theirs = {"phone": "+1", "title": "CEO", "company": ""}
    sides = survivorship.resolve(mine, theirs, stages={}, explicit={"phone": "merged"})
    assert sides == {"phone": "merged", "company": "survivor"}


def test_unknown_choices():
    assert survivorship.unknown_choices({"phone": "merged", "salary": "merged"}, {}, {}) == ["salary"]
    assert survivorship.unknown_choices({"phone": "both"}, {}, {}) == ["phone"]
    assert survivorship.unknown_choices({"custom.tier": "merged"}, {"custom.tier": "A"}, {}) == []


# --- Merge -------------------------------------------------------------------------------------


def test_merge_applies_the_rules_field_by_field(org, owner, pair):
    survivor, merged = pair
    Lead.objects.filter(pk=merged.pk).update(updated_at=timezone.now() + timedelta(minutes=5))
    merge = services.lead_merge(org=org, survivor=survivor, merged=merged, actor=owner)

    survivor.refresh_from_db()
    assert survivor.first_name == "Ada"  # both filled: the survivor's
    assert survivor.company == "Acme"
    assert survivor.title == "Analyst"  # survivor empty: the merged lead's
    assert survivor.phone == "+44 20 1234"
    assert survivor.email == "ada.lovelace@acme.test"  # the more recently updated record's
    assert survivor.score == 40  # max
    assert survivor.captured_at == T0  # min
    assert survivor.stage.key == "sql"  # further funnel stage...
    assert survivor.stage_entered_at == merged.stage_entered_at  # ...with the time it was entered
    assert survivor.external_id == "CRM-7"  # moved from the merged lead (unique per organisation)
    assert survivor.source == "web"

    merged.refresh_from_db()
    assert merged.merged_into_id == survivor.pk
    assert merged.external_id is None
    assert merge.merged_by == owner
    assert merge.field_choices["email"] == "merged" and merge.field_choices["first_name"] == "survivor"
    assert merge.survivor_before["email"] == "ada@acme.test"


def test_stage_events_are_never_rewritten_and_the_timeline_follows_merged_into(org, pair):
    survivor, merged = pair
    events_before = relations(org)["stage_events"]
    services.lead_merge(org=org, survivor=survivor, merged=merged)
    assert relations(org)["stage_events"] == events_before  # none moved, none added
    timeline = selectors.person_stage_events(org=org, lead=survivor)
    assert {e.lead_id for e in timeline} == {survivor.pk, merged.pk}
    assert selectors.person_lead_ids(org=org, lead=survivor) == sorted([survivor.pk, merged.pk])


def test_explicit_choices_win(org, pair):
    survivor, merged = pair
    services.lead_merge(
        org=org,
        survivor=survivor,
        merged=merged,
        field_choices={"first_name": "merged", "score": "survivor", "stage": "survivor", "title": "survivor"},
    )
    survivor.refresh_from_db()
    assert survivor.first_name == "Augusta Ada"
    assert survivor.score == 10
    assert survivor.stage.key == "inquiry"
    assert survivor.title == ""


def test_custom_fields_merge_per_key(org, make_lead):
    from apps.records.models import CustomField

    for key in ("tier", "seats"):
        CustomField.objects.create(organization=org, object_type="lead", key=key, label=key.title())
    survivor = make_lead(email="a@x.test", custom={"tier": "A"})
    merged = make_lead(email="b@x.test", custom={"tier": "B", "seats": "12"})
    services.lead_merge(org=org, survivor=survivor, merged=merged)
    survivor.refresh_from_db()
    assert survivor.custom == {"tier": "A", "seats": "12"}


def test_unknown_field_choice_is_refused_and_nothing_changes(org, pair):
    survivor, merged = pair
    before = lead_state(survivor)
    with pytest.raises(ServiceError) as error:
        services.lead_merge(org=org, survivor=survivor, merged=merged, field_choices={"salary": "merged"})
    assert error.value.field == "fields"
    assert lead_state(survivor) == before
    assert not Merge.objects.exists()


@pytest.mark.parametrize("case", ["same", "other_org", "already_merged"])
def test_invalid_merges_are_refused(case, org, other_org, pair, make_lead):
    survivor, merged = pair
    if case == "same":
        merged = survivor
    elif case == "other_org":
        merged = make_lead(other_org, email="x@globex.test")
    else:
        third = make_lead(email="third@acme.test")
        services.lead_merge(org=org, survivor=third, merged=merged)
    with pytest.raises(ServiceError) as error:
        services.lead_merge(org=org, survivor=survivor, merged=merged)
    assert error.value.field == "other"


def test_touchpoints_opportunities_and_pairs_are_repointed(org, pair, make_lead):
    survivor, merged = pair
    tp_merged = records.touchpoint_create(org=org, lead=merged, source="li")
    tp_survivor = records.touchpoint_create(org=org, lead=survivor, source="web")
    deal = records.opportunity_create(org=org, name="Deal", primary_contact=merged, amount=100)
    third = make_lead(email="ada.lovelace@acme.test")  # exact duplicate of the merged lead
    (third_pair,) = DuplicateCandidate.objects.filter(lead=third)
    own_pair = DuplicateCandidate.objects.create(
        organization=org, lead=merged, other=survivor, reason="fuzzy"
    )

    merge = services.lead_merge(org=org, survivor=survivor, merged=merged)

    assert set(Touchpoint.objects.filter(lead=survivor).values_list("pk", flat=True)) == {
        tp_merged.pk,
        tp_survivor.pk,
    }
    deal.refresh_from_db()
    assert deal.primary_contact_id == survivor.pk
    third_pair.refresh_from_db()
    assert {third_pair.lead_id, third_pair.other_id} == {third.pk, survivor.pk}
    own_pair.refresh_from_db()
    assert own_pair.status == DuplicateCandidate.Status.MERGED
    assert merge.moved["touchpoints"] == [tp_merged.pk]
    assert merge.moved["opportunities"] == [deal.pk]
    # The queue shows the third lead against the survivor, not the hidden merged lead.
    assert [c.pk for c in selectors.duplicate_queue(org=org)] == [third_pair.pk]


def test_undo_restores_everything_exactly(org, owner, pair, make_lead):
    survivor, merged = pair
    records.touchpoint_create(org=org, lead=merged, source="li")
    records.touchpoint_create(org=org, lead=survivor, source="web")
    records.opportunity_create(org=org, name="Deal", primary_contact=merged, amount=100)
    make_lead(email="ada.lovelace@acme.test")
    DuplicateCandidate.objects.create(organization=org, lead=merged, other=survivor, reason="fuzzy")
    before = (lead_state(survivor), lead_state(merged), relations(org))

    merge = services.lead_merge(org=org, survivor=survivor, merged=merged, actor=owner)
    assert (lead_state(survivor), lead_state(merged), relations(org)) != before

    services.merge_undo(org=org, merge=merge, actor=owner)
    assert (lead_state(survivor), lead_state(merged), relations(org)) == before
    merge.refresh_from_db()
    assert merge.undone_at is not None
    assert merge.moved["state"]["kept"] == []


def test_undo_twice_is_refused(org, pair):
    survivor, merged = pair
    merge = services.lead_merge(org=org, survivor=survivor, merged=merged)
    services.merge_undo(org=org, merge=merge)
    with pytest.raises(ServiceError, match="already undone") as error:
        services.merge_undo(org=org, merge=merge)
    assert error.value.code == "already_undone"


def test_undo_waits_for_a_later_merge_of_either_lead(org, pair, make_lead):
    survivor, merged = pair
    first = services.lead_merge(org=org, survivor=survivor, merged=merged)
    third = make_lead(email="third@acme.test")
    second = services.lead_merge(org=org, survivor=third, merged=survivor)
    with pytest.raises(ServiceError, match=f"merge #{second.pk}") as error:
        services.merge_undo(org=org, merge=first)
    assert error.value.code == "later_merge"
    services.merge_undo(org=org, merge=second)
    services.merge_undo(org=org, merge=first)
    assert Lead.objects.filter(pk__in=[survivor.pk, merged.pk], merged_into__isnull=True).count() == 2


def test_undo_keeps_a_field_changed_after_the_merge(org, pair):
    survivor, merged = pair
    merge = services.lead_merge(org=org, survivor=survivor, merged=merged)
    survivor.refresh_from_db()
    records.lead_update(org=org, lead=survivor, title="Countess")
    merge = services.merge_undo(org=org, merge=merge)
    survivor.refresh_from_db()
    assert survivor.title == "Countess"  # edited after the merge: kept
    assert survivor.phone == ""  # written by the merge: restored
    assert merge.moved["state"]["kept"] == ["title"]


# --- API --------------------------------------------------------------------------------------


def merge_url(lead):
    return reverse("api-lead-merge", kwargs={"pk": lead.pk})


def test_api_merge_happy_path_hides_the_merged_lead(api, org, pair):
    survivor, merged = pair
    assert {row["id"] for row in api.get(reverse("api-lead-list")).json()["results"]} == {
        survivor.pk,
        merged.pk,
    }
    response = api.post(
        merge_url(survivor), {"other": merged.pk, "fields": {"phone": "survivor"}}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == survivor.pk and body["phone"] == "" and body["score"] == 40
    listing = api.get(reverse("api-lead-list")).json()["results"]
    assert [row["id"] for row in listing] == [survivor.pk]
    assert api.get(reverse("api-lead-detail", kwargs={"pk": merged.pk})).status_code == 404


def test_api_merge_refuses_another_orgs_lead_and_itself(api, org, other_org, pair, make_lead):
    survivor, _ = pair
    theirs = make_lead(other_org, email="x@globex.test")
    for other in (theirs.pk, survivor.pk):
        response = api.post(merge_url(survivor), {"other": other}, format="json")
        assert response.status_code == 400, response.content
        assert "other" in response.json()["error"]["fields"]
    assert not Merge.objects.exists()


def test_api_merge_unknown_field_is_a_field_error(api, pair):
    survivor, merged = pair
    response = api.post(
        merge_url(survivor), {"other": merged.pk, "fields": {"salary": "merged"}}, format="json"
    )
    assert response.status_code == 400
    assert "fields" in response.json()["error"]["fields"]


def test_api_merge_needs_the_write_scope(org, pair):
    from tests.conftest import api_client_for

    survivor, merged = pair
    reader = api_client_for(org, scopes=("read",))
    assert reader.post(merge_url(survivor), {"other": merged.pk}, format="json").status_code == 403
    assert not Merge.objects.exists()


def test_merge_and_undo_are_labelled_in_the_audit_trail(org, pair):
    from apps.audit.selectors import audit_events

    survivor, merged = pair
    merge = services.lead_merge(org=org, survivor=survivor, merged=merged)
    services.merge_undo(org=org, merge=merge)
    events = list(audit_events(org=org, model="records.Lead"))
    merged_by = {e.pgh_obj_id for e in events if (e.pgh_context or {}).get("merge") == merge.pk}
    undone_by = {e.pgh_obj_id for e in events if (e.pgh_context or {}).get("merge_undone") == merge.pk}
    assert merged_by == {str(survivor.pk), str(merged.pk)}
    assert undone_by == {str(survivor.pk), str(merged.pk)}
