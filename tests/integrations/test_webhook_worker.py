"""Webhooks end to end: outbox → real Redis → real Celery worker → a local receiver.

The worker is SIGKILLed while a receiver is still answering; after a restart
the delivery is retried with the same webhook-id, so the receiver, de-duplicating
by that id as Standard Webhooks asks, processes every event exactly once.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction
from standardwebhooks.webhooks import Webhook

from apps.integrations import services
from apps.integrations.models import WebhookDelivery
from apps.integrations.tasks import sweep_deliveries
from tests import factories
from tests.workers import Worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


class Receiver:
    """A webhook consumer on 127.0.0.1 that records every request it gets."""

    def __init__(self, *, slow_event_ids=()):
        self.requests = []  # (headers, body)
        self.slow = set(slow_event_ids)
        self.slow_started = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append((headers, body))
                msg_id = headers["webhook-id"]
                if msg_id in receiver.slow:
                    receiver.slow.discard(msg_id)  # only the first attempt hangs
                    receiver.slow_started.set()
                    receiver.release.wait(20)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def ids(self):
        return [headers["webhook-id"] for headers, _ in self.requests]

    def close(self):
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _emit(org, n):
    ids = []
    for i in range(n):
        with transaction.atomic():
            event = services.outbox_emit(org=org, event_type="team.created", data={"name": f"Team {i}"})
        ids.append(event.id)
    return ids


def test_events_reach_the_receiver_signed(receiver):
    org = factories.make_org(slug="acme-hooks")
    endpoint = services.webhook_endpoint_create(org=org, url=receiver.url, event_types=["team.created"])
    secret = endpoint.secrets.get().secret
    worker = Worker(WEBHOOK_CLAIM_SECONDS=2).start()
    try:
        emitted = _emit(org, 3)
        assert wait_for(lambda: set(receiver.ids()) >= set(emitted), timeout=30), worker.log()[-3000:]
        # The receiver answers before the worker records the success: wait for the record too.
        succeeded = WebhookDelivery.objects.filter(status="succeeded")
        assert wait_for(lambda: succeeded.count() == 3, timeout=30), worker.log()[-3000:]
    finally:
        worker.stop()

    verifier = Webhook(secret)
    for headers, body in receiver.requests:
        payload = verifier.verify(body, headers)  # raises on a bad signature
        assert payload["type"] == "team.created"
        assert payload["id"] == headers["webhook-id"]
        assert payload["organization"] == "acme-hooks"
    assert sorted(receiver.ids()) == sorted(emitted)
    assert WebhookDelivery.objects.filter(status="succeeded").count() == 3


def test_worker_killed_mid_delivery_loses_nothing_and_repeats_nothing_but_the_interrupted_call():
    org = factories.make_org(slug="acme-crash")
    receiver = Receiver()
    try:
        endpoint = services.webhook_endpoint_create(org=org, url=receiver.url)
        secret = endpoint.secrets.get().secret
        # The first event's first attempt will hang inside the receiver.
        with transaction.atomic():
            first = services.outbox_emit(org=org, event_type="team.created", data={"name": "first"})
        receiver.slow.add(first.id)

        worker = Worker(WEBHOOK_CLAIM_SECONDS=2).start()
        assert receiver.slow_started.wait(30), worker.log()[-3000:]
        more = _emit(org, 4)  # queued behind the hanging delivery
        worker.kill()  # SIGKILL: no chance to record anything
        receiver.release.set()

        delivery = WebhookDelivery.objects.get(event_id=first.id)
        assert delivery.status == "pending" and delivery.attempts == 1

        worker = Worker(WEBHOOK_CLAIM_SECONDS=2).start()
        try:
            emitted = {first.id, *more}
            # Beat's sweep (every 10 s in production) is driven by hand here.
            done = wait_for(
                lambda: WebhookDelivery.objects.filter(status="succeeded").count() == len(emitted),
                timeout=45,
                interval=0.5,
                tick=sweep_deliveries.delay,
            )
            assert done, worker.log()[-3000:]
        finally:
            worker.stop()
    finally:
        receiver.close()

    ids = receiver.ids()
    processed = set(ids)  # what a receiver de-duplicating by webhook-id acts on
    assert processed == emitted
    # Only the interrupted call was sent twice, with the same id and a valid signature.
    assert ids.count(first.id) == 2
    assert all(ids.count(event_id) == 1 for event_id in more)
    verifier = Webhook(secret)
    for headers, body in receiver.requests:
        assert json.loads(body)["id"] == headers["webhook-id"]
        verifier.verify(body, headers)
    assert WebhookDelivery.objects.filter(event_id=first.id).get().attempts == 2
