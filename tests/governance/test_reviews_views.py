"""Operating review pages: the overview, the list with its filters and empty state, planning and
holding a review, the agenda, decisions and action items (plain posts and htmx), and the action items
page with its CSV. Same calendar and fixed measurement answers as test_reviews_services."""

import csv
import datetime
import io
import re

import pytest
from django.urls import reverse

from apps.accounts.roles import Role
from apps.governance.models import ActionItem, Decision, OperatingReview
from apps.governance.services import reviews as services
from tests.governance import test_reviews_services as support

# The calendar, the organisation and the fixed measurement answers of the services tests.
TODAY = support.TODAY
earlier_review = support.earlier_review
acme = support.acme
chair = support.chair
measured = support.measured

pytestmark = pytest.mark.django_db


def url(name, *args):
    return reverse(name, args=["acme", *args])


def test_the_reviews_list_says_how_to_start_and_filters(acme, chair, owner_client, measured):
    html = owner_client.get(url("governance_reviews")).content.decode()
    assert "No operating review yet" in html and "Plan the review" in html
    weekly = services.review_create(org=acme, kind="weekly", today=TODAY)
    monthly = services.review_create(org=acme, kind="monthly", today=TODAY)
    services.review_hold(org=acme, review=monthly, today=TODAY)

    html = owner_client.get(url("governance_reviews")).content.decode()
    assert f'data-review="{weekly.pk}"' in html and f'data-review="{monthly.pk}"' in html
    assert "Week of 16 Nov 2026" in html and "November 2026" in html
    html = owner_client.get(url("governance_reviews") + "?kind=weekly").content.decode()
    assert f'data-review="{weekly.pk}"' in html and f'data-review="{monthly.pk}"' not in html
    html = owner_client.get(url("governance_reviews") + "?status=held").content.decode()
    assert f'data-review="{weekly.pk}"' not in html and f'data-review="{monthly.pk}"' in html
    html = owner_client.get(url("governance_reviews") + "?kind=quarterly").content.decode()
    assert "No review matches these filters" in html


def test_planning_a_review_from_the_page(acme, chair, owner_client, measured):
    response = owner_client.post(url("governance_review_new"), {"kind": "weekly", "date": "2026-11-20"})
    review = OperatingReview.objects.get(organization=acme)
    assert response.status_code == 302 and response.url == url("governance_review", review.pk)
    assert (review.period_start, review.created_by) == (datetime.date(2026, 11, 16), chair)
    again = owner_client.post(
        url("governance_review_new"), {"kind": "weekly", "date": "2026-11-17"}, follow=True
    )
    assert "The review was not planned: There is already a weekly revops review" in again.content.decode()
    assert OperatingReview.objects.filter(organization=acme).count() == 1


def test_a_planned_review_shows_live_numbers_and_a_held_one_its_snapshot(acme, chair, owner_client, measured):
    review = services.review_create(org=acme, kind="weekly", today=TODAY)
    html = owner_client.get(url("governance_review", review.pk)).content.decode()
    assert "The numbers below are live" in html and "Hold the review now" in html
    row = re.search(r'data-indicator="new_leads">(.*?)</tr>', html, re.S).group(1)
    assert [v.strip() for v in re.findall(r'<td class="num">([^<]*)</td>', row)] == ["42", "40", "50"]
    assert "Sales rejections rising" in html and "SAL → SQL for Paid Social fell to 18% from 31%." in html

    owner_client.post(url("governance_review_hold", review.pk), {"attendees": [chair.pk]})
    review.refresh_from_db()
    assert review.status == "held" and list(review.attendees.all()) == [chair]
    measured.indicators = {"new_leads": 77}
    html = owner_client.get(url("governance_review", review.pk)).content.decode()
    assert "do not change" in html and "Hold the review now" not in html
    row = re.search(r'data-indicator="new_leads">(.*?)</tr>', html, re.S).group(1)
    assert [v.strip() for v in re.findall(r'<td class="num">([^<]*)</td>', row)] == ["42", "40", "50"]


def test_recording_decisions_and_action_items(acme, chair, members, owner_client, measured):
    review = services.review_create(org=acme, kind="weekly", today=TODAY)
    agenda_item = review.agenda.first()
    owner_client.post(
        url("governance_review_decision_new", review.pk),
        {"text": "Cut paid social", "rationale": "Lowest SQL rate", "agenda_item": agenda_item.pk},
    )
    decision = Decision.objects.get(review=review)
    assert (decision.text, decision.agenda_item, decision.decided_by) == (
        "Cut paid social",
        agenda_item,
        chair,
    )
    rep = members[Role.SALES_REP]
    owner_client.post(
        url("governance_review_action_new", review.pk),
        {"title": "Move the budget", "owner": rep.pk, "due": "2026-11-27", "decision": decision.pk},
    )
    item = ActionItem.objects.get(review=review)
    assert (item.owner, item.due, item.decision) == (rep, datetime.date(2026, 11, 27), decision)

    # A refusal names what is wrong, plainly and through htmx.
    bad = owner_client.post(
        url("governance_review_action_new", review.pk),
        {"title": "x", "owner": rep.pk, "due": "soon"},
        follow=True,
    )
    assert "“soon” is not a date (YYYY-MM-DD)." in bad.content.decode()
    swapped = owner_client.post(
        url("governance_review_action_new", review.pk),
        {"title": "x", "due": "2026-11-27"},
        HTTP_HX_REQUEST="true",
    )
    html = swapped.content.decode()
    assert swapped.status_code == 200 and html.lstrip().startswith('<div id="review-work"')
    assert 'role="alert">Choose who owns it.' in html
    swapped = owner_client.post(
        url("governance_review_decision_new", review.pk), {"text": "Hire an SDR"}, HTTP_HX_REQUEST="true"
    )
    html = swapped.content.decode()
    assert "Decision recorded." in html and "<td>Hire an SDR</td>" in html and "<html" not in html
    assert ActionItem.objects.filter(review=review).count() == 1


def test_the_agenda_is_edited_with_htmx(acme, owner_client, measured):
    review = services.review_create(org=acme, kind="weekly", today=TODAY, propose=False)
    owner_client.post(
        url("governance_review_agenda_add", review.pk), {"title": "Budget"}, HTTP_HX_REQUEST="true"
    )
    owner_client.post(
        url("governance_review_agenda_add", review.pk), {"title": "Hiring"}, HTTP_HX_REQUEST="true"
    )
    hiring = review.agenda.get(title="Hiring")
    response = owner_client.post(
        url("governance_agenda_item_move", hiring.pk), {"direction": "up"}, HTTP_HX_REQUEST="true"
    )
    assert response.content.decode().index("Hiring") < response.content.decode().index("Budget")
    assert [a.title for a in review.agenda.all()] == ["Hiring", "Budget"]
    response = owner_client.post(url("governance_review_agenda_propose", review.pk), HTTP_HX_REQUEST="true")
    assert "3 items added to the agenda." in response.content.decode()  # a flag, a leak, a KPI node
    owner_client.post(url("governance_agenda_item_remove", hiring.pk), HTTP_HX_REQUEST="true")
    assert [a.title for a in review.agenda.all()][:1] == ["Budget"] and review.agenda.count() == 4


def test_members_read_reviews_and_update_only_their_own_items(acme, chair, members, client, measured):
    review = services.review_create(org=acme, kind="weekly", today=TODAY)
    rep, other_rep = members[Role.SALES_REP], members[Role.MARKETER]
    mine = services.action_add(org=acme, review=review, title="Mine", owner=rep, due="2026-11-20")
    theirs = services.action_add(org=acme, review=review, title="Theirs", owner=chair, due="2026-11-20")
    client.force_login(rep.user)
    html = client.get(url("governance_review", review.pk)).content.decode()
    assert "Record a decision" not in html and "Hold the review now" not in html
    assert client.post(url("governance_review_new"), {"kind": "monthly"}).status_code == 403
    assert client.post(url("governance_review_decision_new", review.pk), {"text": "x"}).status_code == 403
    assert client.post(url("governance_review_hold", review.pk)).status_code == 403
    assert client.post(url("governance_action_status", mine.pk), {"status": "done"}).status_code == 302
    assert client.post(url("governance_action_status", theirs.pk), {"status": "done"}).status_code == 403
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, theirs.status) == ("done", "open")
    client.force_login(other_rep.user)
    assert client.post(url("governance_action_status", mine.pk), {"status": "open"}).status_code == 403


def test_the_action_items_page_filters_and_exports_the_same_rows(
    acme, chair, members, owner_client, measured
):
    _, items = earlier_review(acme, chair)
    review = services.review_create(org=acme, kind="weekly", today=TODAY, propose=False)
    rep = members[Role.SALES_REP]
    services.action_add(org=acme, review=review, title="=Move the budget", owner=rep, due="2026-11-27")

    html = owner_client.get(url("governance_actions")).content.decode()
    assert html.count("data-action=") == 4
    html = owner_client.get(url("governance_actions") + "?overdue=on").content.decode()
    assert html.count("data-action=") == 1 and "open item" in html and "Overdue" in html
    html = owner_client.get(url("governance_actions") + f"?owner={rep.pk}").content.decode()
    assert html.count("data-action=") == 1 and "=Move the budget" in html
    html = owner_client.get(url("governance_actions") + "?status=dropped").content.decode()
    assert "dropped item" in html and html.count("data-action=") == 1

    response = owner_client.get(url("governance_actions") + "?status=open&format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "id",
        "title",
        "owner",
        "due",
        "status",
        "overdue",
        "completed_at",
        "review",
        "subject",
    ]
    assert [r[1:7] for r in rows[1:]] == [
        ["open item", "Olivia Owner", "2026-11-12", "open", "true", ""],
        ["'=Move the budget", rep.user.display_name, "2026-11-27", "open", "false", ""],
    ]
    assert rows[1][7] == "Weekly RevOps review, Week of 9 Nov 2026"

    # Marking done from the list keeps the filters.
    response = owner_client.post(
        url("governance_action_status", items["open"].pk),
        {"status": "done", "next": "actions", "query": "status=open"},
    )
    assert response.url == url("governance_actions") + "?status=open"
    assert ActionItem.objects.get(pk=items["open"].pk).status == "done"


def test_the_action_items_page_has_an_empty_state(acme, owner_client, client, members, measured):
    html = owner_client.get(url("governance_actions")).content.decode()
    assert "No action items yet" in html and "Go to the reviews" in html
    client.force_login(members[Role.SALES_REP].user)
    assert client.get(url("governance_actions") + "?format=csv").status_code == 403  # no export right


def test_the_governance_overview(acme, chair, owner_client, measured):
    html = owner_client.get(url("governance_index")).content.decode()
    assert "No operating review yet" in html
    earlier_review(acme, chair)
    html = owner_client.get(url("governance_index")).content.decode()
    counts = re.findall(r'<span class="kpi-value">(\d+)</span>', html)
    assert counts == ["1", "1"]  # one open item, and it is overdue
    assert "Your open action items" in html and "open item" in html


def test_list_pages_do_not_query_per_row(acme, chair, members, owner_client, measured):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.execution.models import Campaign

    campaign = Campaign.objects.create(organization=acme, name="Webinar")

    def add_rows(first_day):
        review = services.review_create(org=acme, kind="weekly", day=first_day, today=TODAY, propose=False)
        for role in (Role.SALES_REP, Role.MARKETER):
            services.action_add(
                org=acme, review=review, title="Item", owner=members[role], due="2026-11-20",
                subject_type="campaign", subject_id=campaign.pk,
            )  # fmt: skip
        return review

    def queries(path):
        with CaptureQueriesContext(connection) as captured:
            assert owner_client.get(path).status_code == 200
        return len(captured)

    first = add_rows("2026-11-02")
    pages = [url("governance_reviews"), url("governance_actions"), url("governance_index")]
    before = [queries(path) for path in pages] + [queries(url("governance_review", first.pk))]
    add_rows("2026-11-09")
    add_rows("2026-11-16")
    services.action_add(org=acme, review=first, title="More", owner=chair, due="2026-11-21")
    after = [queries(path) for path in pages] + [queries(url("governance_review", first.pk))]
    assert after == before


def test_the_object_picker_lists_matching_objects_of_this_organisation(
    acme, chair, members, owner_client, other_org
):
    from apps.execution.models import Campaign

    for name in ("Spring webinar", "Spring ads", "Autumn webinar"):
        Campaign.objects.create(organization=acme, name=name, type="webinar")
    Campaign.objects.create(organization=other_org, name="Spring secret", type="webinar")
    picker = url("governance_link_options")
    html = owner_client.get(picker, {"subject_type": "campaign", "q": "spring"}).content.decode()
    assert html.count("<option") == 3 and "Choose a campaign…" in html
    assert "Spring ads" in html and "Spring webinar" in html and "Autumn" not in html and "secret" not in html
    both_words = owner_client.get(picker, {"subject_type": "campaign", "q": "spring web"}).content.decode()
    assert both_words.count("<option") == 2 and "Spring webinar" in both_words
    none = owner_client.get(picker, {"subject_type": "campaign", "q": "winter"}).content.decode()
    assert "No campaign matches" in none
    assert owner_client.get(picker, {"subject_type": "invoice"}).status_code == 400
    # Only those who run reviews pick objects for action items.
    owner_client.force_login(members[Role.SALES_REP].user)
    assert owner_client.get(picker, {"subject_type": "campaign"}).status_code == 403
