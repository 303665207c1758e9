"""Pieces the benchmarks share: a database of their own, gunicorn, a load driver.

The bench process never sets Django up: everything that runs project code does
so in a subprocess with `bench.settings`, as it would in production.
"""

import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def bench_database_url() -> str:
    """DATABASE_URL renamed to `<name>_bench`, the database created if missing.

    Benchmarks write fixtures (an organisation, API keys); a database of their
    own keeps those out of the one `make run` shows.
    """
    import dj_database_url
    import psycopg2
    from psycopg2 import sql

    url = os.environ["DATABASE_URL"]
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/')}_bench"
    config = dj_database_url.parse(url)
    params = {key.lower(): config[key] for key in ("HOST", "PORT", "USER", "PASSWORD") if config[key]}
    admin = psycopg2.connect(dbname="postgres", **params)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        admin.close()
    return urlunsplit(parts._replace(path=f"/{name}"))


def django_env(**overrides: str) -> dict[str, str]:
    """The environment of every project subprocess a benchmark starts."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "REVOPS_ENV": "development",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        # Throttle counters and other cache entries stay apart from `make run`'s.
        "CACHE_KEY_PREFIX": "revops-bench",
        **overrides,
    }


def project_run(*args: str, env: dict[str, str], echo: bool = False) -> str:
    """Run `python ARGS` in the project root; return stdout, or raise with the stderr tail.

    With `echo`, the output goes to this process's terminal as it comes (for
    long steps with a progress bar) and nothing is returned.
    """
    if echo:
        code = subprocess.call([PYTHON, *args], cwd=ROOT, env=env)
        if code != 0:
            raise RuntimeError(f"`python {' '.join(args)}` exited with {code} (its output is above)")
        return ""
    result = subprocess.run([PYTHON, *args], cwd=ROOT, env=env, text=True, capture_output=True)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"`python {' '.join(args)}` exited with {result.returncode}:\n{tail}")
    return result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def gunicorn(*, env: dict[str, str], workers: int = 2, timeout: float = 60):
    """Serve the project with gunicorn sync workers on a free loopback port; yield its base URL."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        PYTHON, "-m", "gunicorn", "revops.wsgi:application",
        "--workers", str(workers),
        "--bind", f"127.0.0.1:{port}",
        "--chdir", str(ROOT),
        "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited with code {server.returncode} before serving")
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # still booting
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f}s")
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextmanager
def celery(*, env: dict[str, str], concurrency: int = 2, beat: bool = False, timeout: float = 60):
    """A Celery worker (`concurrency` prefork processes), and with `beat` the beat scheduler,
    as `make run` starts them; yields once the worker is ready to take tasks."""
    worker_command = [
        PYTHON, "-m", "celery", "-A", "revops", "worker", "--loglevel", "INFO",
        "--concurrency", str(concurrency), "--without-gossip", "--without-mingle", "--without-heartbeat",
    ]  # fmt: skip
    children = []
    with tempfile.TemporaryDirectory() as scratch:
        try:
            worker = subprocess.Popen(
                worker_command, cwd=ROOT, env=env, text=True, start_new_session=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )  # fmt: skip
            children.append(worker)
            ready, tail = threading.Event(), []

            def pump():  # the pipe must be drained for as long as the worker logs
                for line in worker.stdout:
                    tail[:] = [*tail[-40:], line]
                    if " ready." in line:
                        ready.set()

            threading.Thread(target=pump, daemon=True).start()
            if not ready.wait(timeout):
                raise RuntimeError("the Celery worker did not start:\n" + "".join(tail))
            if beat:
                beat_command = [
                    PYTHON, "-m", "celery", "-A", "revops", "beat", "--loglevel", "WARNING",
                    "--schedule", str(Path(scratch) / "celerybeat-schedule"),
                ]  # fmt: skip
                children.append(  # its banner is noise in a results table; warnings still show
                    subprocess.Popen(
                        beat_command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL
                    )
                )
            yield
        finally:
            for child in children:  # each in its own process group: the worker's pool goes with it
                if child.poll() is None:
                    os.killpg(child.pid, signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()


def celery_purge(*, env: dict[str, str]) -> None:
    """Drop every queued task, so a worker started next measures only what comes after."""
    project_run("-m", "celery", "-A", "revops", "purge", "-f", env=env)


def drive(
    url: str,
    *,
    count: int,
    clients: int,
    headers: dict | None = None,
    body: Callable[[int], dict] | None = None,
    expect: int = 200,
):
    """GET `url` `count` times from `clients` threads; return (latencies in s, wall time in s).

    With `body`, each request is instead a POST of `body(i)` as JSON, for a distinct
    i in 0..count-1 (so each can carry, say, a unique e-mail). Every response must
    have the status `expect`: timing error pages would measure the wrong thing.
    """
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    share = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]
    firsts = [sum(share[:i]) for i in range(clients)]

    def client(first: int, n: int):
        mine = []
        with requests.Session() as session:
            session.headers.update(headers or {})
            for i in range(first, first + n):
                start = time.perf_counter()
                if body is None:
                    response = session.get(url, timeout=30)
                else:
                    response = session.post(url, json=body(i), timeout=30)
                mine.append(time.perf_counter() - start)
                if response.status_code != expect and not errors:
                    errors.append(f"{url} answered {response.status_code}: {response.text[:300]}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=args) for args in zip(firsts, share, strict=True)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(errors[0])
    return latencies, wall


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
