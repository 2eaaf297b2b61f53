"""The init container every waiting pod runs holds it until the migrate Job has applied the migrations: its
command and the Job's, taken from the rendered manifests, run against a real, empty PostgreSQL database."""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.support import processes
from tests.support.processes import ROOT, process_env

pytestmark = pytest.mark.django_db


@pytest.fixture
def empty_database():
    name = f"k8s_wait_{uuid.uuid4().hex[:8]}"
    server = processes.test_database_url().rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_pods_wait_until_the_migrate_job_has_run(rendered, empty_database):
    wait_command = rendered["local"].get("Deployment", "web")["spec"]["template"]["spec"]["initContainers"][0]["args"]
    migrate_command = rendered["local"].app_container("migrate")["args"]
    venv = Path(sys.executable).parent
    env = process_env(DATABASE_URL=empty_database, PATH=f"{venv}{os.pathsep}{os.environ['PATH']}")
    waiting = subprocess.Popen(
        wait_command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so a failed test stops the shell and its check
    )
    try:
        # Given a pod waiting on an empty database: its first check failed, and it waits for the next.
        assert waiting.stdout.readline() == "waiting for the migrate Job\n"
        assert waiting.poll() is None

        # When the Job's command migrates the database
        migrate = subprocess.run(migrate_command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr

        # Then the pod starts at its next check.
        output, _ = waiting.communicate(timeout=60)
    finally:
        if waiting.poll() is None:
            os.killpg(waiting.pid, signal.SIGKILL)
            waiting.wait()
    assert waiting.returncode == 0, output
