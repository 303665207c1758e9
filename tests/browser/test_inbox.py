"""A rep works their inbox in Chromium: countdowns, accept, reject with a reason, and the bell."""

import re

import pytest
from playwright.sync_api import expect

from apps.accounts.roles import Role
from apps.execution.models import Assignment, PoolMember, RejectReason, RoutingPool, SlaPolicy
from apps.execution.services import policies, routing
from apps.records import services as record_services
from tests import factories
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme():
    """Rita alone in the inbound queue (so both first leads are hers), Cole waiting to join it."""
    owner = factories.make_user(email="olivia@acme.test", full_name="Olivia Owner")
    org = factories.make_org(name="Acme", slug="acme", owner=owner)
    rita = factories.make_member(
        org, role=Role.SALES_REP, user=factories.make_user(email="rita@acme.test", full_name="Rita Rep")
    )
    cole = factories.make_member(
        org, role=Role.SALES_REP, user=factories.make_user(email="cole@acme.test", full_name="Cole Rep")
    )
    pool = RoutingPool.objects.create(organization=org, name="Inbound")
    PoolMember.objects.create(organization=org, pool=pool, membership=rita)
    policy = policies.policy_for(org)
    policies.draft_update(
        org=org,
        policy=policy,
        rules=[
            {"name": "Inbound demo requests", "conditions": [], "action": {"type": "pool", "pool": pool.pk}}
        ],
    )
    policies.policy_publish(org=org, policy=policy, actor=owner)
    SlaPolicy.objects.create(organization=org, name="Accept in 30", clock="accept", target_minutes=30)
    SlaPolicy.objects.create(organization=org, name="Call in 60", clock="first_touch", target_minutes=60)
    RejectReason.objects.for_org(org).delete()  # this test's reasons instead of the defaults
    RejectReason.objects.create(organization=org, key="wrong_territory", label="Wrong territory", order=1)
    RejectReason.objects.create(organization=org, key="too_busy", label="Too busy", order=2)
    return {"org": org, "pool": pool, "rita": rita, "cole": cole}


def test_rep_accepts_one_lead_rejects_another_and_sees_the_bell_update(page, acme):
    org, rita, cole = acme["org"], acme["rita"], acme["cole"]
    # Transactional test: each lead is routed on commit, exactly as in production.
    ann = record_services.lead_create(org=org, email="ann@bigco.test", first_name="Ann", company="BigCo")
    bob = record_services.lead_create(org=org, email="bob@smallco.test", first_name="Bob", company="SmallCo")
    assert Assignment.objects.get(lead=ann).assignee == rita
    assert Assignment.objects.get(lead=bob).assignee == rita
    PoolMember.objects.create(organization=org, pool=acme["pool"], membership=cole)

    log_in(page, "rita@acme.test", factories.PASSWORD)
    page.goto("/o/acme/inbox/")
    page.evaluate("window.sameDocument = true")  # gone if anything below reloads the page
    offers = page.locator("#inbox-offers-list .inbox-card")
    awaiting = page.locator("#inbox-awaiting-list .inbox-card")
    expect(offers).to_have_count(2)
    expect(awaiting).to_have_count(0)
    ann_card = offers.filter(has_text="Ann")
    expect(ann_card).to_contain_text("BigCo")
    expect(ann_card).to_contain_text("Inbound demo requests")
    # The accept countdown ticks in the browser: 29m 59s left, then a second less.
    countdown = ann_card.locator(".inbox-countdown")
    expect(countdown).to_have_text(re.compile(r"^(29|30)m \d\ds left$"))
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=3_000)

    # Accept Ann: the card leaves the offers and waits for a first touch, without a reload.
    ann_card.get_by_role("button", name="Accept").click()
    expect(page.locator("#inbox-status")).to_contain_text("Accepted Ann")
    expect(offers).to_have_count(1)
    moved = awaiting.filter(has_text="Ann")
    expect(moved).to_have_count(1)
    expect(moved.locator(".inbox-countdown")).to_have_text(re.compile(r"^(59|60)m \d\ds left$"))
    assert Assignment.objects.get(lead=ann).status == Assignment.Status.ACCEPTED

    # Reject Bob with a reason: the card disappears and Bob goes to Cole.
    bob_card = offers.filter(has_text="Bob")
    bob_card.locator("summary", has_text="Reject").click()
    bob_card.get_by_label("Reason").select_option(label="Wrong territory")
    bob_card.get_by_label("Note").fill("Based in Brazil")
    bob_card.get_by_role("button", name="Reject lead").click()
    expect(page.locator("#inbox-status")).to_contain_text("Rejected Bob")
    expect(offers).to_have_count(0)
    expect(page.get_by_role("heading", name="Nothing waiting for you")).to_be_visible()
    rejected = Assignment.objects.get(lead=bob, status=Assignment.Status.REJECTED)
    assert rejected.assignee == rita and rejected.reject_reason.key == "wrong_territory"
    assert rejected.reject_note == "Based in Brazil"
    assert Assignment.objects.get(lead=bob, status=Assignment.Status.OFFERED).assignee == cole

    # A new lead offered to Rita: the bell counts it on its next poll, with no reload.
    bell = page.locator(".inbox-bell-count")
    expect(bell).to_have_text("2")  # the two offers above
    routing.rep_set_available(org=org, membership=cole, available=False)
    cat = record_services.lead_create(org=org, email="cat@catco.test", first_name="Cat")
    assert Assignment.objects.get(lead=cat).assignee == rita
    expect(bell).to_have_text("3", timeout=20_000)
    assert page.evaluate("window.sameDocument") is True

    # Nothing on the way tripped the Content-Security-Policy or threw.
    assert page.console_problems == []
