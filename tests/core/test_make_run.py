"""`make run`'s launcher, end to end: migrate, seed, web + worker + beat, Ctrl-C.

It runs against a throwaway database on the same PostgreSQL server and its
own Redis database, so it never touches the development data.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg2
import pytest
import requests
from django.db import connection

from tests.workers import current_database_url

BASE_DIR = Path(__file__).resolve().parents[2]
SMOKE_DB = "revops_make_run_smoke"

pytestmark = pytest.mark.worker


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smoke_database(django_db_blocker):
    with django_db_blocker.unblock():
        params = connection.get_connection_params()
    params["dbname"] = "postgres"
    params.pop("database", None)
    admin = psycopg2.connect(
        **{k: v for k, v in params.items() if k in {"host", "port", "user", "password", "dbname"}}
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{SMOKE_DB}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{SMOKE_DB}"')
    with django_db_blocker.unblock():
        url = current_database_url().rsplit("/", 1)[0] + f"/{SMOKE_DB}"
    yield url
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{SMOKE_DB}" WITH (FORCE)')
    admin.close()


def test_make_run_starts_everything_and_stops_on_ctrl_c(smoke_database):
    from django.conf import settings

    port = _free_port()
    redis_url = settings.REDIS_URL.rsplit("/", 1)[0] + "/14"
    env = {
        **os.environ,
        "REVOPS_ENV": "development",
        "DATABASE_URL": smoke_database,
        "REDIS_URL": redis_url,
        "PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "revops.localstack", "run"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = []
    threading.Thread(target=lambda: output.extend(iter(process.stdout.readline, "")), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    try:
        # Migrations and the full demo seed (records, then a replayed routing history).
        deadline = time.monotonic() + 480
        while time.monotonic() < deadline and not any("revops is running at" in line for line in output):
            assert process.poll() is None, "".join(output)
            time.sleep(0.5)
        text = "".join(output)
        assert f"revops is running at {base}/" in text, text[-4000:]
        assert "admin@northwind.example" in text and "revops-demo-2026" in text

        ready = None
        while time.monotonic() < deadline:
            try:
                ready = requests.get(f"{base}/readyz", timeout=5)
                if ready.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        assert ready is not None and ready.status_code == 200, "".join(output)[-4000:]
        assert requests.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}

        session = requests.Session()
        login_page = session.get(f"{base}/accounts/login/", timeout=10)
        assert login_page.status_code == 200
        response = session.post(
            f"{base}/accounts/login/",
            data={
                "login": "admin@northwind.example",
                "password": "revops-demo-2026",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": f"{base}/accounts/login/"},
            timeout=10,
        )
        assert response.status_code == 200
        assert response.url.endswith("/o/northwind/"), response.url
        assert "Northwind Analytics" in response.text
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    assert code == 0, "".join(output)[-4000:]
    assert "Stopped." in "".join(output)


def test_a_failed_migration_stops_the_servers_it_started(monkeypatch, capsys):
    from revops import localstack

    stopped = []

    def failing_manage(*args, env, capture=False):
        raise subprocess.CalledProcessError(3, [sys.executable, "manage.py", *args])

    monkeypatch.setattr(
        localstack, "ensure_services", lambda: ({"DATABASE_URL": "postgres://x/y"}, ["postgres"])
    )
    monkeypatch.setattr(localstack, "_manage", failing_manage)
    monkeypatch.setattr(localstack, "stop_services", lambda which, *rest: stopped.append(which))
    assert localstack.run() == 3
    assert stopped == [["postgres"]]
    assert "manage.py migrate --no-input failed with exit code 3." in capsys.readouterr().out
