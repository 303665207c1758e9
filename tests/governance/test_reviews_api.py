"""`/api/v1/reviews/` and `/api/v1/action-items/`: planning, holding, decisions, action items and their
status, with errors that name the field. Same calendar and fixed measurement answers as
test_reviews_services."""

import pytest
from django.urls import reverse

from apps.accounts.roles import Role
from apps.execution.models import Campaign
from apps.governance.models import ActionItem, OperatingReview
from apps.governance.services import reviews as services
from tests.conftest import api_client_for
from tests.governance import test_reviews_services as support

# The calendar, the organisation and the fixed measurement answers of the services tests.
TODAY = support.TODAY
earlier_review = support.earlier_review
acme = support.acme
chair = support.chair
measured = support.measured

pytestmark = pytest.mark.django_db


def test_plan_hold_and_decide_through_the_api(acme, chair, members, measured):
    api = api_client_for(acme)
    created = api.post(
        reverse("api-review-list"),
        {"kind": "weekly", "date": "2026-11-19", "attendees": [chair.pk]},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["kind"], body["period_start"], body["period_end"], body["status"]) == (
        "weekly",
        "2026-11-16",
        "2026-11-22",
        "planned",
    )
    keys = [a["key"] for a in body["agenda"]]
    assert keys == ["red_flag:rejections_rising", "leak:sal>sql:channel:paid_social", "kpi:901"]
    assert body["attendees"] == [chair.pk] and body["snapshot"] == {}

    decided = api.post(
        reverse("api-review-decisions", args=[body["id"]]),
        {"text": "Cut paid social", "rationale": "Lowest SQL rate", "agenda_item": body["agenda"][0]["id"]},
        format="json",
    )
    assert decided.status_code == 201, decided.content
    assert decided.json()["agenda_item"] == body["agenda"][0]["id"]
    listed = api.get(reverse("api-review-decisions", args=[body["id"]])).json()
    assert [d["text"] for d in listed] == ["Cut paid social"]

    held = api.post(reverse("api-review-hold", args=[body["id"]]), {}, format="json")
    assert held.status_code == 200, held.content
    assert held.json()["status"] == "held" and held.json()["snapshot"]["indicators"][0]["value"] == 42
    again = api.post(reverse("api-review-hold", args=[body["id"]]), {}, format="json")
    assert again.status_code == 400 and again.json()["error"]["code"] == "held"

    listed = api.get(reverse("api-review-list") + "?status=held").json()
    assert [r["id"] for r in listed["results"]] == [body["id"]]
    assert api.get(reverse("api-review-list") + "?status=planned").json()["results"] == []
    detail = api.get(reverse("api-review-detail", args=[body["id"]])).json()
    assert [d["text"] for d in detail["decisions"]] == ["Cut paid social"]


def test_review_errors_name_the_field(acme, chair, members, other_org, outsider, measured):
    api = api_client_for(acme)
    for payload, field in (
        ({"kind": "yearly"}, "kind"),
        ({"kind": "weekly", "date": "soon"}, "date"),
        ({"kind": "weekly", "colour": "red"}, "colour"),
        ({"kind": "weekly", "attendees": [outsider.memberships.get().pk]}, "attendees"),
    ):
        response = api.post(reverse("api-review-list"), payload, format="json")
        assert response.status_code == 400, payload
        assert field in response.json()["error"]["fields"], response.json()
    api.post(reverse("api-review-list"), {"kind": "weekly"}, format="json")
    duplicate = api.post(reverse("api-review-list"), {"kind": "weekly", "date": "2026-11-22"}, format="json")
    assert duplicate.status_code == 400 and "date" in duplicate.json()["error"]["fields"]
    bad_filter = api.get(reverse("api-review-list") + "?colour=red")
    assert bad_filter.status_code == 400 and "colour" in bad_filter.json()["error"]["fields"]
    review = OperatingReview.objects.get(organization=acme)
    empty = api.post(reverse("api-review-decisions", args=[review.pk]), {"text": ""}, format="json")
    assert empty.status_code == 400 and "text" in empty.json()["error"]["fields"]


def test_action_items_through_the_api(acme, chair, members, other_org, measured):
    api = api_client_for(acme)
    _, items = earlier_review(acme, chair)
    review = services.review_create(org=acme, kind="weekly", today=TODAY, propose=False)
    rep = members[Role.SALES_REP]
    campaign = Campaign.objects.create(organization=acme, name="Webinar")
    theirs = Campaign.objects.create(organization=other_org, name="Theirs")

    created = api.post(
        reverse("api-action-item-list"),
        {"review": review.pk, "title": "Fix UTM tags", "owner": rep.pk, "due": "2026-11-27",
         "subject_type": "campaign", "subject_id": campaign.pk},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.content
    item = created.json()
    assert (item["owner"], item["due"], item["status"], item["overdue"], item["subject"]) == (
        rep.pk,
        "2026-11-27",
        "open",
        False,
        "Campaign: Webinar",
    )
    for changes, field in (
        ({"subject_id": theirs.pk}, "subject_id"),
        ({"owner": 999_999}, "owner"),
        ({"due": None}, "due"),
        ({"review": 999_999}, "review"),
        ({"subject_type": "invoice"}, "subject_type"),
    ):
        payload = {"review": review.pk, "title": "x", "owner": rep.pk, "due": "2026-11-27",
                   "subject_type": "campaign", "subject_id": campaign.pk, **changes}  # fmt: skip
        response = api.post(reverse("api-action-item-list"), payload, format="json")
        assert response.status_code == 400, changes
        assert field in response.json()["error"]["fields"], response.json()

    overdue = api.get(reverse("api-action-item-list") + "?overdue=true").json()["results"]
    assert [(i["title"], i["overdue"]) for i in overdue] == [("open item", True)]
    mine = api.get(reverse("api-action-item-list") + f"?owner={rep.pk}").json()["results"]
    assert [i["id"] for i in mine] == [item["id"]]
    by_review = api.get(reverse("api-action-item-list") + f"?review={review.pk}").json()["results"]
    assert [i["id"] for i in by_review] == [item["id"]]

    done = api.patch(reverse("api-action-item-detail", args=[item["id"]]), {"status": "done"}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "done" and done.json()["completed_at"]
    bad = api.patch(
        reverse("api-action-item-detail", args=[item["id"]]), {"status": "finished"}, format="json"
    )
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]
    other = api.patch(reverse("api-action-item-detail", args=[item["id"]]), {"title": "new"}, format="json")
    assert other.status_code == 400 and "title" in other.json()["error"]["fields"]
    assert ActionItem.objects.get(pk=item["id"]).title == "Fix UTM tags"
    assert api.get(reverse("api-action-item-detail", args=[items["open"].pk])).json()["overdue"] is True


def test_a_read_only_key_cannot_write(acme, measured):
    api = api_client_for(acme, scopes=("read",))
    assert api.get(reverse("api-review-list")).status_code == 200
    assert api.post(reverse("api-review-list"), {"kind": "weekly"}, format="json").status_code == 403


def test_api_lists_do_not_query_per_row(acme, chair, members, measured):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = api_client_for(acme)

    def add_rows(first_day):
        review = services.review_create(org=acme, kind="weekly", day=first_day, today=TODAY, propose=False)
        services.action_add(
            org=acme, review=review, title="Item", owner=members[Role.SALES_REP], due="2026-11-20"
        )
        services.action_add(org=acme, review=review, title="Item", owner=chair, due="2026-11-21")

    def queries(name):
        with CaptureQueriesContext(connection) as captured:
            assert api.get(reverse(name)).status_code == 200
        return len(captured)

    add_rows("2026-11-02")
    queries("api-review-list")  # the key's first use is recorded once
    before = [queries("api-review-list"), queries("api-action-item-list")]
    add_rows("2026-11-09")
    add_rows("2026-11-16")
    assert [queries("api-review-list"), queries("api-action-item-list")] == before
