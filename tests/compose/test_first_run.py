"""A fresh clone starts with no file to edit; a deployment (a .env made from .env.example) refuses to start
until its secrets are set, naming the missing one."""

import shutil
import subprocess

import pytest

from tests.compose.conftest import REPO


@pytest.fixture
def clone(tmp_path):
    for name in ("docker-compose.yml", "docker-compose.production.yml", ".env.example"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


def compose_config(folder) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin"}  # nothing from this shell: only what the folder holds
    return subprocess.run(["docker-compose", "config"], cwd=folder, env=env, capture_output=True, text=True)


def test_a_fresh_clone_needs_no_file_to_edit(clone):
    result = compose_config(clone)

    assert result.returncode == 0, result.stderr
    assert "DJANGO_SECRET_KEY: local-only-" in result.stdout


def test_a_deployment_with_the_example_env_refuses_and_names_the_secret(clone):
    shutil.copy(clone / ".env.example", clone / ".env")

    result = compose_config(clone)

    assert result.returncode != 0
    assert "set DJANGO_SECRET_KEY in .env" in result.stderr


def test_a_deployment_with_its_secrets_set_uses_them(clone):
    env = (clone / ".env.example").read_text()
    for name, value in {
        "DJANGO_SECRET_KEY": "k" * 50,
        "POSTGRES_PASSWORD": "db-secret",
        "FLOWER_BASIC_AUTH": "ops:flower-secret",
    }.items():
        env = env.replace(f"\n{name}=\n", f"\n{name}={value}\n")
    (clone / ".env").write_text(env)

    result = compose_config(clone)

    assert result.returncode == 0, result.stderr
    assert "local-only" not in result.stdout
    assert "postgres://app:db-secret@postgres:5432/app" in result.stdout
