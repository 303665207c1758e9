"""Experiments: the statistics against hand-computed values, deterministic
assignment, conversions read from the data, stop and winner, pages and API."""

from collections import Counter

import pytest
from django.urls import reverse

from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.execution.experiments import stats
from apps.execution.models import Experiment, ExperimentAssignment, ExperimentStatus, Journey
from apps.execution.services import experiments
from apps.records import services as records
from tests import factories

TWO = [{"key": "a", "name": "Control offer"}, {"key": "b", "name": "New offer"}]


def url(name, org, *args):
    return reverse(name, args=[org.slug, *args])


# --- Statistics (pure) -------------------------------------------------------------------------------


def test_two_proportion_z_test_by_hand():
    """Control 20/200 = 10 %, variant 36/200 = 18 %.
    pooled p = 56/400 = 0.14; SE = sqrt(0.14 x 0.86 x (1/200 + 1/200)) = sqrt(0.001204) = 0.0346987
    z = 0.08 / 0.0346987 = 2.30556; two-sided p = 2 x (1 - Phi(2.30556)) = 0.021135
    unpooled SE = sqrt(0.1 x 0.9 / 200 + 0.18 x 0.82 / 200) = sqrt(0.001188) = 0.0344674
    95 % CI = 0.08 +/- 1.959964 x 0.0344674 = 0.08 +/- 0.0675548 = [0.012445, 0.147555]"""
    result = stats.two_proportion(20, 200, 36, 200)
    assert result.difference == pytest.approx(0.08)
    assert result.z == pytest.approx(2.30556, abs=1e-5)
    assert result.p_value == pytest.approx(0.021135, abs=1e-6)
    assert result.ci_low == pytest.approx(0.012445, abs=1e-6)
    assert result.ci_high == pytest.approx(0.147555, abs=1e-6)
    assert result.confidence == 0.95


def test_no_variation_gives_no_z():
    result = stats.two_proportion(0, 50, 0, 50)
    assert result.z is None and result.p_value is None


def test_ab_verdict_and_min_sample_warning():
    results = stats.compare([stats.Arm("a", 200, 20), stats.Arm("b", 200, 36)])
    assert results.comparisons == 1 and results.alpha == 0.05
    assert results.arms[1].verdict == stats.BETTER
    assert results.leader == "b"
    small = stats.compare([stats.Arm("a", 50, 5), stats.Arm("b", 50, 15)])
    assert small.small_sample and small.arms[1].small_sample
    assert small.leader is None  # no winner is suggested on a small sample


def test_n_variants_each_against_control_with_bonferroni():
    """Control 100/1000, b 130/1000, c 118/1000. b vs control: pooled 230/2000 = 0.115,
    SE = sqrt(0.115 x 0.885 x 0.002) = 0.0142671, z = 0.03 / 0.0142671 = 2.10274, p = 0.035488.
    Alone that is significant at 5 %; with two comparisons each is held to 2.5 %: not significant.
    c: z = 1.29153, p = 0.196519. The interval is then a 97.5 % one (critical z 2.241403)."""
    arms = [stats.Arm("a", 1000, 100), stats.Arm("b", 1000, 130), stats.Arm("c", 1000, 118)]
    results = stats.compare(arms)
    assert results.comparisons == 2 and results.alpha == pytest.approx(0.025)
    b, c = results.arms[1], results.arms[2]
    assert b.comparison.z == pytest.approx(2.10274, abs=1e-5)
    assert b.comparison.p_value == pytest.approx(0.035488, abs=1e-6)
    assert b.verdict == stats.NO_DIFFERENCE
    assert c.comparison.p_value == pytest.approx(0.196519, abs=1e-6)
    assert b.comparison.confidence == pytest.approx(0.975)
    se = (0.1 * 0.9 / 1000 + 0.13 * 0.87 / 1000) ** 0.5
    assert b.comparison.ci_low == pytest.approx(0.03 - 2.241403 * se, abs=1e-6)
    alone = stats.compare(arms[:2])
    assert alone.arms[1].verdict == stats.BETTER


def test_bucket_is_stable_and_follows_the_weights():
    # Pinned: a change of hashing would move every running experiment's people.
    assert [stats.bucket(7, lead, [1, 1]) for lead in range(10)] == [1, 1, 1, 0, 0, 1, 1, 0, 0, 1]
    assert [stats.bucket(3, lead, [2, 1, 1]) for lead in range(12)] == [2, 0, 0, 1, 0, 0, 2, 2, 0, 1, 1, 0]
    counts = Counter(stats.bucket(11, lead, [2, 1, 1]) for lead in range(20_000))
    assert counts[0] / 20_000 == pytest.approx(0.5, abs=0.015)
    assert counts[1] / 20_000 == pytest.approx(0.25, abs=0.015)
    assert counts[2] / 20_000 == pytest.approx(0.25, abs=0.015)
    with pytest.raises(ValueError):
        stats.bucket(1, 1, [1, 0])


# --- Services ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_assign_is_deterministic_and_recorded_once(org):
    experiment = experiments.experiment_create(
        org=org, name="Offer", variants=TWO, goal={"type": "opportunity_created"}
    )
    lead = records.lead_create(org=org, email="ann@acme.test")
    assert experiments.assign(experiment, lead) is None  # a draft serves the step's own content
    experiments.experiment_start(org=org, experiment=experiment)
    first = experiments.assign(experiment, lead)
    assert first == experiments.pick(experiment, lead.pk)
    assert experiments.assign(experiment, lead) == first
    assert ExperimentAssignment.objects.filter(experiment=experiment).count() == 1
    experiments.experiment_stop(org=org, experiment=experiment, winner="b")
    assert experiments.assign(experiment, lead) == "b"  # everyone gets the winner from then on


@pytest.mark.django_db
def test_variants_and_goal_are_validated_and_fixed_once_started(org):
    with pytest.raises(ServiceError) as error:
        experiments.experiment_create(
            org=org, name="X", variants=[{"key": "a", "name": "A"}, {"key": "a", "name": "B"}],
            goal={"type": "opportunity_created"},
        )  # fmt: skip
    assert error.value.field == "variants[1].key"
    with pytest.raises(ServiceError) as error:
        experiments.experiment_create(
            org=org, name="X", variants=TWO, goal={"type": "stage_reached", "stage": "nope"}
        )
    assert error.value.field == "goal.stage"
    experiment = experiments.experiment_create(
        org=org, name="X", variants=TWO, goal={"type": "opportunity_created"}
    )
    experiments.experiment_start(org=org, experiment=experiment)
    with pytest.raises(ServiceError) as error:
        experiments.experiment_update(org=org, experiment=experiment, variants=TWO[::-1])
    assert error.value.field == "variants"
    with pytest.raises(ServiceError) as error:
        experiments.experiment_stop(org=org, experiment=experiment, winner="zzz")
    assert error.value.field == "winner"


@pytest.mark.django_db
def test_conversions_come_from_stage_events_after_assignment_and_freeze_at_stop(org):
    experiment = experiments.experiment_create(
        org=org, name="Subject", variants=TWO, goal={"type": "stage_reached", "stage": "sql"}
    )
    experiments.experiment_start(org=org, experiment=experiment)
    before = records.lead_create(org=org, email="before@acme.test", stage="sql")  # reached it before
    later_stage = records.lead_create(org=org, email="opp@acme.test")
    plain = records.lead_create(org=org, email="plain@acme.test")
    leads = [before, later_stage, plain]
    variants = {lead.pk: experiments.assign(experiment, lead) for lead in leads}
    records.lead_change_stage(org=org, lead=later_stage, to="opportunity")  # beyond SQL counts too
    results = experiments.experiment_results(org=org, experiment=experiment)
    converted = {r.arm.key: r.arm.conversions for r in results.arms}
    people = {r.arm.key: r.arm.size for r in results.arms}
    assert sum(people.values()) == 3
    assert sum(converted.values()) == 1 and converted[variants[later_stage.pk]] == 1
    experiments.experiment_stop(org=org, experiment=experiment, winner="a", learned="Wording matters little.")
    records.lead_change_stage(org=org, lead=plain, to="sql")  # after the stop: does not count
    results = experiments.experiment_results(org=org, experiment=experiment)
    assert sum(r.arm.conversions for r in results.arms) == 1
    assert ExperimentAssignment.objects.get(lead=later_stage).converted_at is not None


@pytest.mark.django_db
def test_opportunity_goal_counts_opportunities_created_after_assignment(org):
    experiment = experiments.experiment_create(
        org=org, name="Offer", variants=TWO, goal={"type": "opportunity_created"}
    )
    experiments.experiment_start(org=org, experiment=experiment)
    account = records.account_create(org=org, name="Acme", domain="acme.test")
    lead = records.lead_create(org=org, email="ann@acme.test")
    experiments.assign(experiment, lead)
    assert (
        sum(r.arm.conversions for r in experiments.experiment_results(org=org, experiment=experiment).arms)
        == 0
    )
    records.opportunity_create(org=org, name="Acme deal", account=account, amount=100)
    assert (
        sum(r.arm.conversions for r in experiments.experiment_results(org=org, experiment=experiment).arms)
        == 1
    )


# --- Pages -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_start_and_stop_from_the_pages(client, org, members):
    client.force_login(members[Role.MARKETER].user)
    response = client.post(
        url("execution_experiment_new", org),
        {"name": "Demo vs trial", "variants": "demo | Book a demo\ntrial | Start a trial | 2\nguide | Guide",
         "goal_type": "stage_reached", "goal_stage": "sql"},
    )  # fmt: skip
    assert response.status_code == 302
    experiment = org_experiment(org)
    assert [v["weight"] for v in experiment.variants] == [1, 2, 1]
    client.post(url("execution_experiment_start", org, experiment.pk))
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.RUNNING
    page = client.get(url("execution_experiment", org, experiment.pk)).content.decode()
    assert "Bonferroni" in page and "Fewer than 100 people" in page
    client.post(
        url("execution_experiment_stop", org, experiment.pk), {"winner": "trial", "learned": "Trials win."}
    )
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.STOPPED and experiment.winner == "trial"
    register = client.get(url("execution_experiments", org)).content.decode()
    assert "Trials win." in register and "Start a trial" in register


def org_experiment(org):
    return Experiment.objects.for_org(org).get()


@pytest.mark.django_db
def test_a_bad_form_shows_the_problem(client, org, members):
    client.force_login(members[Role.MARKETER].user)
    response = client.post(
        url("execution_experiment_new", org),
        {"name": "X", "variants": "only | One", "goal_type": "opportunity_created"},
    )
    assert response.status_code == 400
    assert "Give between 2 and 6 variants" in response.content.decode()


@pytest.mark.django_db
def test_viewers_read_the_register_but_cannot_create(client, org, members):
    client.force_login(members[Role.VIEWER].user)
    page = client.get(url("execution_experiments", org)).content.decode()
    assert "No experiment running" in page
    assert client.get(url("execution_experiment_new", org)).status_code == 403


# --- API ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_crud_stop_and_results(api, org):
    response = api.post(
        "/api/v1/experiments/",
        {"name": "Offer", "variants": TWO, "goal": {"type": "stage_reached", "stage": "sql"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    assert api.patch(f"/api/v1/experiments/{pk}/", {"hypothesis": "B wins"}, format="json").json()[
        "hypothesis"
    ]
    assert api.post(f"/api/v1/experiments/{pk}/start/").json()["status"] == "running"
    lead = records.lead_create(org=org, email="ann@acme.test")
    experiment = org_experiment(org)
    variant = experiments.assign(experiment, lead)
    results = api.get(f"/api/v1/experiments/{pk}/results/").json()
    assert results["control"] == "a" and results["small_sample"] is True
    assert {arm["variant"]: arm["people"] for arm in results["arms"]}[variant] == 1
    response = api.post(f"/api/v1/experiments/{pk}/stop/", {"winner": "c"}, format="json")
    assert response.status_code == 400 and "winner" in response.json()["error"]["fields"]
    stopped = api.post(f"/api/v1/experiments/{pk}/stop/", {"winner": "b", "learned": "B wins"}, format="json")
    assert stopped.json()["winner"] == "b" and stopped.json()["status"] == "stopped"
    assert api.delete(f"/api/v1/experiments/{pk}/").status_code == 400  # stays in the register


@pytest.mark.django_db
def test_api_refuses_another_orgs_journey(api, org, other_org):
    journey = Journey.objects.create(organization=other_org, name="Theirs", motion="nurture")
    response = api.post(
        "/api/v1/experiments/",
        {"name": "X", "variants": TWO, "goal": {"type": "opportunity_created"}, "journey": journey.pk},
        format="json",
    )
    assert response.status_code == 400 and "journey" in response.json()["error"]["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize("n", [1, 6])
def test_register_and_results_queries_do_not_grow(owner_client, api, org, n, django_assert_max_num_queries):
    for i in range(n):
        experiment = experiments.experiment_create(
            org=org, name=f"Test {i}", variants=TWO, goal={"type": "stage_reached", "stage": "sql"}
        )
        experiments.experiment_start(org=org, experiment=experiment)
        for j in range(n):
            experiments.assign(experiment, records.lead_create(org=org, email=f"l{i}-{j}@acme.test"))
    with django_assert_max_num_queries(8):
        assert owner_client.get(url("execution_experiments", org)).content.decode().count("Test ") >= n
    with django_assert_max_num_queries(10):
        assert owner_client.get(url("execution_experiment", org, experiment.pk)).status_code == 200
    with django_assert_max_num_queries(8):
        assert len(api.get("/api/v1/experiments/").json()["results"]) == n


# --- The owner is an active member ------------------------------------------------------------------

ACTIVE_ONLY = "Choose an active member of this organisation."


def _left(members, role, *, how):
    """A member who can no longer act: their membership switched off, or their user account."""
    member = members[role]
    if how == "membership":
        member.is_active = False
        member.save()
    else:
        member.user.is_active = False
        member.user.save()
    return member


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["membership", "user"])
def test_the_owner_must_be_an_active_member_of_the_organisation(org, members, other_org, how):
    gone = _left(members, Role.MARKETER, how=how)
    stranger = factories.make_member(other_org, role=Role.ADMIN)
    for owner in (gone, stranger):
        with pytest.raises(ServiceError) as error:
            experiments.experiment_create(
                org=org, name="Offer", variants=TWO, goal={"type": "opportunity_created"}, owner=owner
            )
        assert (error.value.field, error.value.message) == ("owner", ACTIVE_ONLY)
    assert not Experiment.objects.exists()
    active = members[Role.REVOPS_LEAD]
    experiment = experiments.experiment_create(
        org=org, name="Offer", variants=TWO, goal={"type": "opportunity_created"}, owner=active
    )
    with pytest.raises(ServiceError) as error:
        experiments.experiment_update(org=org, experiment=experiment, owner=gone)
    assert error.value.field == "owner"
    experiment.refresh_from_db()
    assert experiment.owner == active
    experiments.experiment_update(org=org, experiment=experiment, owner=None)  # nobody is allowed
    assert Experiment.objects.get().owner is None


@pytest.mark.django_db
def test_api_sets_an_active_owner_and_refuses_others_naming_the_field(api, org, members, other_org):
    gone = _left(members, Role.MARKETER, how="membership")
    stranger = factories.make_member(other_org, role=Role.ADMIN)
    body = {"name": "Offer", "variants": TWO, "goal": {"type": "opportunity_created"}}
    for owner in (gone.pk, stranger.pk, 999_999):
        response = api.post("/api/v1/experiments/", {**body, "owner": owner}, format="json")
        assert response.status_code == 400, response.content
        assert response.json()["error"]["fields"] == {"owner": [ACTIVE_ONLY]}
    assert not Experiment.objects.exists()
    active = members[Role.REVOPS_LEAD]
    created = api.post("/api/v1/experiments/", {**body, "owner": active.pk}, format="json")
    assert created.status_code == 201 and created.json()["owner"] == active.pk
    detail = f"/api/v1/experiments/{created.json()['id']}/"
    refused = api.patch(detail, {"owner": gone.pk}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["fields"] == {"owner": [ACTIVE_ONLY]}
    assert api.get(detail).json()["owner"] == active.pk


@pytest.mark.django_db
def test_the_form_offers_active_members_and_refuses_anyone_else(client, org, members):
    gone = _left(members, Role.VIEWER, how="user")
    marketer, ops = members[Role.MARKETER], members[Role.REVOPS_LEAD]
    client.force_login(marketer.user)
    page = client.get(url("execution_experiment_new", org)).content.decode()
    assert f'<option value="{ops.pk}">' in page and f'value="{gone.pk}"' not in page
    assert f'<option value="{marketer.pk}" selected>' in page  # whoever creates it, unless changed
    body = {"name": "Offer", "variants": "a | A\nb | B", "goal_type": "opportunity_created"}
    refused = client.post(url("execution_experiment_new", org), {**body, "owner": gone.pk})
    assert refused.status_code == 400 and ACTIVE_ONLY in refused.content.decode()
    assert not Experiment.objects.exists()
    assert client.post(url("execution_experiment_new", org), {**body, "owner": ops.pk}).status_code == 302
    experiment = org_experiment(org)
    assert experiment.owner == ops
    edit = url("execution_experiment_edit", org, experiment.pk)
    assert client.post(edit, {**body, "owner": gone.pk}).status_code == 400
    experiment.refresh_from_db()
    assert experiment.owner == ops
    client.post(url("execution_experiment_new", org), {**body, "name": "Mine"})
    assert Experiment.objects.get(name="Mine").owner == marketer  # left blank: the creator
