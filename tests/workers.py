"""A real Celery worker process for tests whose flow crosses the queue."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent


def current_database_url() -> str:
    """The URL of the database pytest-django created, for processes we start."""
    s = connection.settings_dict
    host = quote(s["HOST"] or "", safe="") if (s["HOST"] or "").startswith("/") else (s["HOST"] or "")
    auth = quote(s["USER"] or "")
    if s["PASSWORD"]:
        auth += ":" + quote(s["PASSWORD"])
    port = f":{s['PORT']}" if s["PORT"] else ""
    return f"postgres://{auth}@{host}{port}/{s['NAME']}"


class Worker:
    """`celery worker` in its own process group; kill() is SIGKILL, like a crash."""

    def __init__(self, **env):
        self.env = {
            **os.environ,
            "REVOPS_ENV": "test",
            "DATABASE_URL": current_database_url(),
            "PYTHONUNBUFFERED": "1",
            **{k: str(v) for k, v in env.items()},
        }
        self.process = None
        self.output = []

    def start(self, timeout=30):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "revops",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--pool",
                "prefork",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=BASE_DIR,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()

        def pump():
            for line in self.process.stdout:
                self.output.append(line)
                if " ready." in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(timeout):
            self.kill()
            raise RuntimeError("worker did not start:\n" + "".join(self.output[-50:]))
        return self

    def kill(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return "".join(self.output)


def wait_for(predicate, *, timeout=30, interval=0.2, tick=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if tick:
            tick()
        time.sleep(interval)
    return False
