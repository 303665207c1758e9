"""Journey pages, the API, analytics by hand, the lead timeline and the public unsubscribe page."""

import pytest
from django.urls import reverse

from apps.accounts.roles import Role
from apps.execution.journeys import analytics, engine, entry, mail, services
from apps.execution.models import EmailTemplate, Enrollment, Journey, JourneyVersion, Suppression
from tests import factories
from tests.conftest import api_client_for
from tests.execution.journey_helpers import T0, journey, lead

pytestmark = pytest.mark.django_db

TASK = {"id": "t", "type": "task", "task": {"title": "Call"}}
WAIT = {"id": "w", "type": "wait", "wait": {"days": 1}}


def url(name, org, **kwargs):
    return reverse(name, kwargs={"org_slug": org.slug, **kwargs})


# --- Analytics, computed by hand ------------------------------------------------------


def test_analytics_counts_by_hand(org):
    made = journey(org, [WAIT, TASK])
    version = made.current_version
    states = [
        ("active", "w", ""), ("active", "w", ""), ("active", "t", ""), ("completed", "", ""),
        ("exited", "", "stage_reached"), ("exited", "", "unsubscribed"), ("exited", "", "replied"),
    ]  # fmt: skip
    for status, step, reason in states:
        Enrollment.objects.create(
            organization=org, journey=made, version=version, lead=lead(org), status=status, step_id=step,
            exit_reason=reason, entered_at=T0,
        )  # fmt: skip
    stats = analytics.journey_stats(org=org, journey=made)
    assert (stats.entered, stats.active, stats.completed, stats.converted) == (7, 3, 1, 2)
    assert stats.exited == {"stage_reached": 1, "unsubscribed": 1, "replied": 1}
    assert [(step, count) for step, _, count in stats.at_step] == [("w", 2), ("t", 1)]
    assert stats.conversion_rate == pytest.approx(2 / 7)
    assert analytics.journey_counts(org=org, journeys=[made]) == {made.pk: {"entered": 7, "active": 3}}


# --- Pages ------------------------------------------------------------------------------


def test_list_shows_an_empty_state_then_journeys_with_counts(owner_client, org):
    response = owner_client.get(url("execution_journeys", org))
    assert b"No journeys yet" in response.content and b"Start a journey" in response.content
    made = journey(org, [TASK], name="Welcome series")
    entry.enroll(org=org, journey=made, lead=lead(org), now=T0)
    response = owner_client.get(url("execution_journeys", org))
    assert b"Welcome series" in response.content and b"Nurture" in response.content


def test_template_picker_creates_a_draft_for_every_motion(owner_client, org):
    response = owner_client.get(url("execution_journey_new", org))
    for motion in ("Demand capture", "Nurture", "Expansion", "Retention"):
        assert motion.encode() in response.content
    for motion in ("capture", "nurture", "expansion", "retention"):
        response = owner_client.post(url("execution_journey_new", org), {"motion": motion})
        assert response.status_code == 302
    journeys = Journey.objects.for_org(org)
    assert sorted(journeys.values_list("motion", flat=True)) == [
        "capture",
        "expansion",
        "nurture",
        "retention",
    ]
    for made in journeys:  # every template publishes as it stands
        assert services.journey_publish(org=org, journey=made).number == 1


def test_step_editor_adds_edits_moves_and_removes_steps(owner_client, org):
    made = journey(org, [], publish=False)
    save = url("execution_journey_step_save", org, pk=made.pk)
    owner_client.post(
        save, {"index": "", "step_id": "w", "type": "wait", "wait_mode": "duration", "days": "2"}
    )
    owner_client.post(save, {"index": "", "step_id": "t", "type": "task", "title": "Call", "due_days": "1"})
    made.refresh_from_db()
    assert made.draft_steps == [
        {"id": "w", "type": "wait", "wait": {"days": 2, "hours": 0, "minutes": 0}},
        {"id": "t", "type": "task", "task": {"title": "Call", "due_days": 1}},
    ]
    response = owner_client.post(
        save, {"index": "0", "step_id": "w", "type": "wait", "days": "x"}, follow=True
    )
    assert b"steps[0].wait.days" in response.content
    owner_client.post(url("execution_journey_step_move", org, pk=made.pk), {"index": "1", "direction": "up"})
    made.refresh_from_db()
    assert [s["id"] for s in made.draft_steps] == ["t", "w"]
    owner_client.post(url("execution_journey_step_delete", org, pk=made.pk), {"index": "0"})
    made.refresh_from_db()
    assert [s["id"] for s in made.draft_steps] == ["w"]


def test_publish_pause_resume_and_manual_enrolment_from_the_page(owner_client, org):
    made = journey(org, [TASK], publish=False)
    page = owner_client.get(url("execution_journey", org, pk=made.pk))
    assert b"Nobody has entered yet" in page.content and b"Publish" in page.content
    owner_client.post(url("execution_journey_publish", org, pk=made.pk))
    made.refresh_from_db()
    assert made.status == "active" and made.current_version.number == 1
    person = lead(org, email="manual@example.com")
    owner_client.post(url("execution_journey_enroll", org, pk=made.pk), {"lead": "manual@example.com"})
    assert Enrollment.objects.get(journey=made).lead == person
    owner_client.post(url("execution_journey_pause", org, pk=made.pk))
    made.refresh_from_db()
    assert made.status == "paused"
    owner_client.post(url("execution_journey_resume", org, pk=made.pk))
    made.refresh_from_db()
    assert made.status == "active"
    page = owner_client.get(url("execution_journey", org, pk=made.pk))
    assert b"manual@example.com" in page.content or str(person).encode() in page.content
    csv = owner_client.get(url("execution_journey_export", org, pk=made.pk))
    body = b"".join(csv.streaming_content).decode()
    assert body.splitlines()[0].startswith("enrollment,lead,email,version,status")
    assert "manual@example.com" in body
    assert b"Archive</button>" in page.content
    owner_client.post(url("execution_journey_archive", org, pk=made.pk))
    made.refresh_from_db()
    assert made.status == "archived"
    assert Enrollment.objects.get(journey=made).exit_reason == "archived"
    assert b"Archive</button>" not in owner_client.get(url("execution_journey", org, pk=made.pk)).content


def test_settings_form_saves_entry_goals_and_reentry(owner_client, org):
    made = journey(org, [TASK], publish=False)
    response = owner_client.post(
        url("execution_journey", org, pk=made.pk),
        {
            "name": "Renamed", "motion": "retention", "entry_type": "stage_reached", "entry_value": "mql",
            "goals": ["stage_reached", "replied"], "goal_stage": "sql", "reentry": "after_days",
            "reentry_days": "30", "suppress_customers": "on",
        },
    )  # fmt: skip
    assert response.status_code == 302
    made.refresh_from_db()
    assert made.entry == {"type": "stage_reached", "stage": "mql"}
    assert made.exit_goals == [{"type": "stage_reached", "stage": "sql"}, {"type": "replied"}]
    assert (made.reentry, made.reentry_days, made.suppress_customers) == ("after_days", 30, True)


def test_viewers_read_but_cannot_change_journeys(client, org):
    viewer = factories.make_member(org, role=Role.VIEWER)
    client.force_login(viewer.user)
    made = journey(org, [TASK])
    assert client.get(url("execution_journey", org, pk=made.pk)).status_code == 200
    assert client.get(url("execution_journeys", org)).status_code == 200
    for name in ("execution_journey_publish", "execution_journey_pause", "execution_journey_enroll"):
        assert client.post(url(name, org, pk=made.pk)).status_code == 403
    assert client.post(url("execution_journey", org, pk=made.pk), {"name": "x"}).status_code == 403
    assert client.post(url("execution_journey_new", org), {"motion": "nurture"}).status_code == 403


def test_email_template_pages(owner_client, org):
    response = owner_client.get(url("execution_email_templates", org))
    assert b"No e-mail templates yet" in response.content
    owner_client.post(
        url("execution_email_templates", org),
        {"name": "Hi", "subject": "Hi {{ first_name }}", "body": "Body"},
    )
    saved = EmailTemplate.objects.get(organization=org)
    response = owner_client.post(
        url("execution_email_template", org, pk=saved.pk),
        {"name": "Hi", "subject": "x", "body": "{% debug %}"},
    )
    assert b"not allowed" in response.content
    saved.refresh_from_db()
    assert saved.body == "Body"


def test_the_leads_timeline_shows_its_journeys(owner_client, org):
    made = journey(org, [TASK], name="Onboarding")
    person = lead(org)
    entry.enroll(org=org, journey=made, lead=person, now=T0)
    engine.sweep(now=T0)
    page = owner_client.get(reverse("records_lead", kwargs={"org_slug": org.slug, "pk": person.pk}))
    assert (
        b"Entered journey Onboarding (v1)" in page.content and b"Left Onboarding: completed" in page.content
    )


def test_public_unsubscribe_page_adds_a_suppression_on_post_only(client, org):
    token = mail.unsubscribe_token(org_id=org.pk, email="reader@example.com")
    page = client.get(reverse("journey_unsubscribe", kwargs={"token": token}))
    assert page.status_code == 200 and b"reader@example.com" in page.content
    assert not Suppression.objects.exists()
    done = client.post(reverse("journey_unsubscribe", kwargs={"token": token}))
    assert b"You are unsubscribed" in done.content
    assert Suppression.objects.get(organization=org).email == "reader@example.com"
    assert client.get(reverse("journey_unsubscribe", kwargs={"token": "forged"})).status_code == 404


# --- API ----------------------------------------------------------------------------------


def test_api_create_publish_enroll_list_enrollments_pause_resume(api, org):
    hello = api.post(
        "/api/v1/email-templates/",
        {"name": "Hi", "subject": "Hi", "body": "Hello {{ first_name }}"},
        format="json",
    )
    assert hello.status_code == 201, hello.content
    bad = api.post(
        "/api/v1/journeys/",
        {
            "name": "J",
            "motion": "nurture",
            "draft_steps": [{"id": "w", "type": "wait", "wait": {"days": -1}}],
        },
        format="json",
    )
    assert bad.status_code == 400 and "steps[0].wait.days" in bad.json()["error"]["fields"]
    steps = [{"id": "e", "type": "email", "email": {"template": hello.json()["id"]}}, TASK]
    created = api.post(
        "/api/v1/journeys/", {"name": "J", "motion": "nurture", "draft_steps": steps}, format="json"
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    published = api.post(f"/api/v1/journeys/{pk}/publish/")
    assert published.json()["version"] == 1 and published.json()["status"] == "active"
    person = lead(org)
    enrolled = api.post(f"/api/v1/journeys/{pk}/enroll/", {"lead": person.pk}, format="json")
    assert enrolled.status_code == 201 and enrolled.json()["step_id"] == "e"
    again = api.post(f"/api/v1/journeys/{pk}/enroll/", {"lead": person.pk}, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "already_enrolled"
    listed = api.get(f"/api/v1/journeys/{pk}/enrollments/")
    assert [row["lead"] for row in listed.json()["results"]] == [person.pk]
    assert api.post(f"/api/v1/journeys/{pk}/pause/").json()["status"] == "paused"
    assert api.post(f"/api/v1/journeys/{pk}/resume/").json()["status"] == "active"
    assert api.delete(f"/api/v1/journeys/{pk}/").status_code == 400  # it has enrolments: archive instead
    archived = api.post(f"/api/v1/journeys/{pk}/archive/")
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    assert api.get(f"/api/v1/journeys/{pk}/enrollments/").json()["results"][0]["status"] == "exited"
    twice = api.post(f"/api/v1/journeys/{pk}/archive/")
    assert twice.status_code == 400 and "status" in twice.json()["error"]["fields"]


def test_api_event_entry(api, org):
    made = journey(org, [TASK], entry={"type": "event", "name": "trial_started"})
    person = lead(org)
    response = api.post(
        "/api/v1/journeys/events/", {"name": "trial_started", "lead": person.pk}, format="json"
    )
    assert response.status_code == 200 and [row["journey"] for row in response.json()] == [made.pk]


def test_api_read_only_key_cannot_write(org):
    reader = api_client_for(org, scopes=("read",))
    made = journey(org, [TASK])
    assert reader.get("/api/v1/journeys/").status_code == 200
    assert reader.post(f"/api/v1/journeys/{made.pk}/pause/").status_code == 403
    assert JourneyVersion.objects.filter(journey=made).count() == 1
