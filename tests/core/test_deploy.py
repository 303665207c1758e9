"""The production posture: Django's deploy checks pass, bad configs refuse to start,
and docker-compose.yml validates on a fresh clone.

Each check starts a fresh process, because settings are read once at import.
"""

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import revops.settings

ROOT = Path(__file__).resolve().parents[2]
DOCKER_COMPOSE = "/usr/bin/docker-compose"


def _production_env(**overrides):
    env = {
        key: value
        for key, value in os.environ.items()
        # Whatever the test run has set must not leak into the production posture.
        if key not in {"SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        REVOPS_ENV="production",
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(48),  # 64 characters
        ALLOWED_HOSTS="revops.example.com",
        DATABASE_URL=os.environ["DATABASE_URL"],
        REDIS_URL=os.environ["REDIS_URL"],
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_deploy_checks_pass_in_production():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())
    assert result.returncode == 0, f"check --deploy failed:\n{result.stdout}\n{result.stderr}"


def test_production_refuses_debug():
    result = _manage("check", env=_production_env(DEBUG="true"))
    assert result.returncode != 0
    assert "DEBUG must be off in production" in result.stderr


@pytest.mark.parametrize(
    "secret_key",
    [None, revops.settings._DEV_SECRET, "too-short-but-not-the-default"],
    ids=["unset", "development-default", "short"],
)
def test_production_refuses_a_default_or_weak_secret_key(secret_key):
    result = _manage("check", env=_production_env(SECRET_KEY=secret_key))
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def _compose(*args, project_dir):
    if not Path(DOCKER_COMPOSE).exists():
        pytest.skip(f"{DOCKER_COMPOSE} is not installed")
    return subprocess.run(
        [
            DOCKER_COMPOSE,
            "-f",
            str(ROOT / "docker-compose.yml"),
            "--project-directory",
            str(project_dir),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_file_validates_in_the_repository():
    result = _compose("config", "-q", project_dir=ROOT)
    assert result.returncode == 0, result.stderr


def test_compose_file_validates_without_a_dot_env(tmp_path):
    # A fresh clone has no .env; the project directory decides where Compose looks for one.
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    result = _compose("config", "-q", project_dir=tmp_path)
    assert result.returncode == 0, result.stderr


def test_compose_app_services_wait_for_migrations_and_healthy_services(tmp_path):
    shutil.copy(ROOT / "Dockerfile", tmp_path / "Dockerfile")
    result = _compose("config", project_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]

    assert {"web", "migrate", "worker", "beat", "postgres", "redis"} <= set(services)
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }, name
    for name in ("web", "migrate", "worker", "beat"):
        environment = services[name]["environment"]
        assert environment["REVOPS_ENV"] == "production", name
        assert environment["DATABASE_URL"].startswith("postgres://"), name
        assert "@postgres:5432/" in environment["DATABASE_URL"], name
        assert environment["REDIS_URL"] == "redis://redis:6379/0", name
    assert services["migrate"]["restart"] == "no"
    assert "healthcheck" in services["web"]
