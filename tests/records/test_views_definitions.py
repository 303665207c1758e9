"""The definitions pages: stages, versions and their diffs, and custom fields."""

import datetime

import pytest
from django.urls import reverse

from apps.accounts import services as account_services
from apps.accounts.roles import Role
from apps.audit.selectors import audit_events
from apps.core.errors import ServiceError
from apps.records import definitions, services
from apps.records.models import CustomField, LifecycleStage, StageDefinitionVersion

pytestmark = pytest.mark.django_db


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


def stage(org, key):
    return LifecycleStage.objects.for_org(org).get(key=key)


# --- The definitions page ----------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
def test_definitions_page_is_readable_by_everyone(client, org, members, role):
    client.force_login(members[role].user)
    response = client.get(url("records_definitions", org))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Sales-accepted: a rep accepted the lead" in html  # an entry criterion
    assert "What counts as qualified" in html and "What a closed deal is" in html
    assert "LTV = ARPA \u00d7 gross margin \u00f7 churn rate" in html
    assert "Version 1" in html and "Default funnel" in html
    edit = reverse("records_stage_edit", args=[org.slug, stage(org, "mql").pk])
    assert (edit in html) == members[role].can("definitions.edit")


def test_definitions_page_shows_rules_teams_and_what_is_qualified(owner_client, org, owner):
    team = account_services.team_create(org=org, name="Inside sales")
    services.stage_update(
        org=org,
        stage=stage(org, "mql"),
        actor=owner,
        owner_team=team,
        rule=[
            {"field": "score", "op": "gte", "value": 50},
            {"field": "country", "op": "in", "value": ["FR", "DE"]},
        ],
    )
    html = owner_client.get(url("records_definitions", org)).content.decode()
    assert "Inside sales" in html
    assert "<code>score at least 50</code> and <code>country is one of FR, DE</code>" in html
    qualified = html[html.index('id="qualified"') : html.index('id="closed-deal"')]
    assert "MQL, SAL, SQL, Opportunity, Customer" in qualified
    assert "Detours (Recycled, Disqualified) are not qualified" in qualified


# --- Editing a stage publishes a version ------------------------------------------------------------


def _edit_data(mql, **overrides):
    data = {
        "name": mql.name,
        "order": mql.order,
        "entry_criteria": mql.entry_criteria,
        "owner_team": "",
        "effective_date": "",
        "note": "Tighter MQL",
        "rule-TOTAL_FORMS": "2",
        "rule-INITIAL_FORMS": "0",
        "rule-MIN_NUM_FORMS": "0",
        "rule-MAX_NUM_FORMS": "20",
        "rule-0-field": "",
        "rule-0-op": "",
        "rule-0-value": "",
        "rule-1-field": "",
        "rule-1-op": "",
        "rule-1-value": "",
    }
    data.update(overrides)
    return data


def test_stage_edit_publishes_version_2_and_the_diff_shows_before_and_after(client, org, members):
    lead = members[Role.REVOPS_LEAD]
    mql = stage(org, "mql")
    client.force_login(lead.user)
    assert client.get(url("records_stage_edit", org, mql.pk)).status_code == 200
    old_criterion = mql.entry_criteria
    response = client.post(
        url("records_stage_edit", org, mql.pk),
        _edit_data(
            mql,
            entry_criteria="Score of 60 or more from an ICP account.",
            effective_date="2026-03-01",
            **{
                "rule-0-field": "score",
                "rule-0-op": "gte",
                "rule-0-value": "60",
                "rule-1-field": "country",
                "rule-1-op": "in",
                "rule-1-value": "FR, DE",
            },
        ),
    )
    version = StageDefinitionVersion.objects.for_org(org).get(number=2)
    assert response.status_code == 302
    assert response["Location"] == reverse("records_definition_version", args=[org.slug, version.pk])
    assert version.note == "Tighter MQL" and version.created_by == lead.user
    assert version.effective_from == datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)  # the org is on UTC
    mql.refresh_from_db()
    assert mql.rule == [
        {"field": "score", "op": "gte", "value": "60"},
        {"field": "country", "op": "in", "value": ["FR", "DE"]},
    ]

    html = client.get(response["Location"]).content.decode()
    assert "Changes since" in html and "version 1" in html
    assert (
        f'<strong>Entry criterion</strong>: <span class="diff-before">{old_criterion}</span> → '
        '<span class="diff-after">Score of 60 or more from an ICP account.</span>'
    ) in html
    assert (
        '<strong>Machine rule</strong>: <span class="diff-before">none</span> → '
        '<span class="diff-after">score at least 60 and country is one of FR, DE</span>'
    ) in html
    assert "changed" in html
    # The change is in the audit trail too.
    updates = audit_events(org=org, model="records.LifecycleStage", action="update")
    assert any(e.pgh_obj_id == str(mql.pk) and "entry_criteria" in (e.pgh_diff or {}) for e in updates)


def test_effective_date_is_midnight_in_the_org_time_zone(owner_client, org):
    account_services.organization_update(org=org, time_zone="Europe/Paris")
    mql = stage(org, "mql")
    owner_client.post(
        url("records_stage_edit", org, mql.pk),
        _edit_data(mql, name="Marketing-qualified", effective_date="2026-07-01"),
    )
    version = StageDefinitionVersion.objects.for_org(org).get(number=2)
    assert version.effective_from == datetime.datetime(2026, 6, 30, 22, 0, tzinfo=datetime.UTC)


def test_unchanged_stage_publishes_nothing(owner_client, org):
    mql = stage(org, "mql")
    response = owner_client.post(url("records_stage_edit", org, mql.pk), _edit_data(mql))
    assert response.status_code == 200
    assert "Nothing changed" in response.content.decode()
    assert StageDefinitionVersion.objects.for_org(org).count() == 1


def test_incomplete_rule_row_is_an_error(owner_client, org):
    mql = stage(org, "mql")
    response = owner_client.post(
        url("records_stage_edit", org, mql.pk),
        _edit_data(mql, **{"rule-0-field": "score", "rule-0-op": "gte"}),
    )
    assert response.status_code == 200
    assert "Give a value." in response.content.decode()
    assert StageDefinitionVersion.objects.for_org(org).count() == 1


def test_empty_entry_criterion_is_refused(owner_client, org):
    mql = stage(org, "mql")
    response = owner_client.post(url("records_stage_edit", org, mql.pk), _edit_data(mql, entry_criteria=" "))
    assert response.status_code == 200
    assert StageDefinitionVersion.objects.for_org(org).count() == 1


@pytest.mark.parametrize("role", [Role.VIEWER, Role.SALES_MANAGER, Role.MARKETER])
def test_stage_edit_needs_definitions_edit(client, org, members, role):
    mql = stage(org, "mql")
    client.force_login(members[role].user)
    assert client.get(url("records_stage_edit", org, mql.pk)).status_code == 403
    assert (
        client.post(url("records_stage_edit", org, mql.pk), _edit_data(mql, name="Hacked")).status_code == 403
    )
    assert stage(org, "mql").name == "MQL"


def test_first_version_has_nothing_to_compare(owner_client, org):
    version = StageDefinitionVersion.objects.for_org(org).get(number=1)
    html = owner_client.get(url("records_definition_version", org, version.pk)).content.decode()
    assert "The first version: nothing to compare with." in html
    assert "Inquiry" in html and "Disqualified" in html


def test_version_page_of_another_org_is_404(owner_client, org, other_org):
    theirs = StageDefinitionVersion.objects.for_org(other_org).get(number=1)
    assert owner_client.get(url("records_definition_version", org, theirs.pk)).status_code == 404
    their_stage = stage(other_org, "mql")
    assert owner_client.get(url("records_stage_edit", org, their_stage.pk)).status_code == 404


# --- Snapshot diffs (pure) ----------------------------------------------------------------------------


def test_snapshot_diff_added_removed_changed():
    def snap(key, name, order, **fields):
        base = {"key": key, "name": name, "order": order, "kind": "funnel", "entry_criteria": "x"}
        return {**base, "owner_team": None, "rule": [], **fields}

    before = [snap("a", "A", 1), snap("b", "B", 2, entry_criteria="y")]
    after = [
        snap("a", "A2", 1, owner_team="Sales", rule=[{"field": "score", "op": "gt", "value": 5}]),
        snap("c", "C", 3, kind="detour", entry_criteria="z"),
    ]
    diff = definitions.snapshot_diff(before, after)
    assert [(d.key, d.change) for d in diff] == [("a", "changed"), ("c", "added"), ("b", "removed")]
    assert diff[0].fields == [
        ("Name", "A", "A2"),
        ("Owner team", "—", "Sales"),
        ("Machine rule", "none", "score greater than 5"),
    ]
    assert ("Entry criterion", "—", "z") in diff[1].fields
    assert ("Entry criterion", "y", "—") in diff[2].fields
    assert definitions.snapshot_diff(before, before) == []


# --- Custom fields ----------------------------------------------------------------------------------------


def test_custom_field_create_and_delete(owner_client, org):
    response = owner_client.post(
        url("records_custom_fields", org),
        {
            "object_type": "lead",
            "label": "Plan tier",
            "key": "plan",
            "type": "choice",
            "choices": "Gold\nSilver\n\ngold",
        },
    )
    assert response.status_code == 302
    field = CustomField.objects.for_org(org).get(key="plan")
    assert (field.type, field.choices, field.required) == ("choice", ["Gold", "Silver"], False)
    html = owner_client.get(url("records_custom_fields", org)).content.decode()
    assert "custom.plan" in html and "Gold, Silver" in html

    # The field is now validated on writes.
    with pytest.raises(ServiceError):
        services.lead_create(org=org, email="a@acme.test", custom={"plan": "Bronze"})

    assert owner_client.post(url("records_custom_field_delete", org, field.pk)).status_code == 302
    assert not CustomField.objects.filter(pk=field.pk).exists()


def test_choice_field_requires_choices(owner_client, org):
    response = owner_client.post(
        url("records_custom_fields", org),
        {"object_type": "account", "label": "Tier", "key": "tier", "type": "choice", "choices": " \n "},
    )
    assert response.status_code == 200
    assert "A choice field needs at least one choice" in response.content.decode()
    assert not CustomField.objects.for_org(org).exists()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"key": "Plan Tier"}, "Use lower-case letters"),
        ({"key": "1plan"}, "Use lower-case letters"),
        ({"type": "number", "choices": "a\nb"}, "Only choice fields take a list of choices."),
    ],
)
def test_custom_field_validation(owner_client, org, data, message):
    post = {"object_type": "lead", "label": "Plan", "key": "plan", "type": "text", "choices": "", **data}
    response = owner_client.post(url("records_custom_fields", org), post)
    assert message in response.content.decode()
    assert not CustomField.objects.for_org(org).exists()


def test_custom_field_keys_are_unique_per_object_type(org):
    definitions.custom_field_create(org=org, object_type="lead", key="plan", label="Plan")
    definitions.custom_field_create(org=org, object_type="account", key="plan", label="Plan")
    with pytest.raises(ServiceError) as exc:
        definitions.custom_field_create(org=org, object_type="lead", key="plan", label="Plan again")
    assert exc.value.field == "key"


def test_custom_fields_are_readable_by_viewers_but_not_writable(client, org, members):
    field = definitions.custom_field_create(org=org, object_type="lead", key="plan", label="Plan tier")
    client.force_login(members[Role.VIEWER].user)
    html = client.get(url("records_custom_fields", org)).content.decode()
    assert "Plan tier" in html and "New custom field" not in html
    post = {"object_type": "lead", "label": "X", "key": "x", "type": "text"}
    assert client.post(url("records_custom_fields", org), post).status_code == 403
    assert client.post(url("records_custom_field_delete", org, field.pk)).status_code == 403
    assert CustomField.objects.for_org(org).count() == 1


def test_another_orgs_custom_field_cannot_be_deleted(owner_client, org, other_org):
    theirs = definitions.custom_field_create(org=other_org, object_type="lead", key="plan", label="Plan")
    assert owner_client.post(url("records_custom_field_delete", org, theirs.pk)).status_code == 404
    assert CustomField.objects.filter(pk=theirs.pk).exists()
