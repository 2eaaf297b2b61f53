"""`make run`: the whole stack on one machine without Docker (`manage.py runstack` is this command).

Starts the embedded PostgreSQL when DATABASE_URL is unset and the embedded Valkey when REDIS_URL is unset
(their data under RUN_DIR, reused by the next run), migrates, seeds demo data and the admin account, then
runs every process of the Procfile (web, workers, beat, Flower, outbox relay, mail sink) under honcho.
Ctrl-C stops all of them, the embedded servers last."""

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from celery import current_app as app
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from core.devtools.embedded import EmbeddedPostgres, EmbeddedServerError, EmbeddedValkey, refuse_busy_port
from core.operations.health import system_report

STARTUP_TIMEOUT_SECONDS = 120
# Ports of the processes runstack starts, with their defaults; each is checked free before anything starts.
PORTS = {"WEB_PORT": 8000, "FLOWER_PORT": 5555, "EMAIL_PORT": 1025}
WORKER_QUEUES = ("default", "email", "bulk")  # the Procfile's workers, named <queue>@<host>


class RunStackCommand(BaseCommand):
    help = "Run web, workers, beat, Flower and their helpers from the Procfile."

    def handle(self, *args, **options):
        started_at = float(os.environ.get("RUN_STARTED_AT") or time.time())
        settings.RUN_DIR.mkdir(exist_ok=True)
        env = os.environ.copy()
        for variable, default in PORTS.items():
            env.setdefault(variable, str(default))
            try:
                refuse_busy_port(int(env[variable]), what=f"this stack's {variable[:-5].lower()}", variable=variable)
            except EmbeddedServerError as error:
                raise CommandError(str(error)) from None
        base = f"http://127.0.0.1:{env['WEB_PORT']}/"
        # Links in pages and emails follow the ports this stack runs on.
        env.setdefault("SITE_URL", base.rstrip("/"))
        env.setdefault("FLOWER_URL", f"http://127.0.0.1:{env['FLOWER_PORT']}/")
        # The rates sync works offline: the app serves a local feed in the ECB's format (DEBUG only).
        env.setdefault("EXCHANGE_RATES_URL", f"{base}dev/exchange-rates.xml")
        secrets_ = local_secrets(settings.RUN_DIR / "credentials.json")
        env.setdefault("FLOWER_BASIC_AUTH", f"admin:{secrets_['password']}")
        env.setdefault("METRICS_TOKEN", secrets_["metrics_token"])
        env.setdefault("CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT", "2")  # honcho kills after 5 s
        embedded = []
        try:
            if "DATABASE_URL" not in os.environ:
                database = EmbeddedPostgres(
                    data_dir=settings.RUN_DIR / "postgres", port=settings.EMBEDDED_POSTGRES_PORT
                )
                embedded.append(database)
                self.start_embedded(database, database="app")
            if "REDIS_URL" not in os.environ:
                store = EmbeddedValkey(data_dir=settings.RUN_DIR / "valkey", port=settings.EMBEDDED_REDIS_PORT)
                embedded.append(store)
                self.start_embedded(store)
            env["DATABASE_URL"] = settings.DATABASE_URL
            env["REDIS_URL"] = settings.REDIS_URL
            call_command("migrate", interactive=False, verbosity=0)
            call_command("seed_demo", password=secrets_["password"], stdout=self.stdout)
            honcho = subprocess.Popen([sys.executable, "-m", "honcho", "-f", "Procfile", "start"], env=env)
            # `kill <pid>` stops the stack as Ctrl-C does: honcho stops every process it started (each in a
            # process group of its own, which a signal to this one never reaches), then the embedded servers.
            signal.signal(signal.SIGTERM, lambda signum, frame: honcho.send_signal(signal.SIGTERM))
            threading.Thread(
                target=self.announce_when_ready,
                args=(honcho, base, env, secrets_["password"], started_at),
                daemon=True,
            ).start()
            try:
                honcho.wait()
            except KeyboardInterrupt:
                honcho.wait()
        finally:
            for server in reversed(embedded):
                server.stop()

    def start_embedded(self, server, **options) -> None:
        started = time.monotonic()
        try:
            server.start(**options)
        except EmbeddedServerError as error:
            raise CommandError(str(error)) from None
        name = type(server).__name__.removeprefix("Embedded")
        self.stdout.write(f"Embedded {name} on 127.0.0.1:{server.port} in {time.monotonic() - started:.1f}s")

    def announce_when_ready(self, honcho, base: str, env: dict, password: str, started_at: float) -> None:
        """Says Ready once this stack's own web answers and every worker replies to a ping."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if honcho.poll() is not None:
                return
            # beat and a worker heartbeat per queue in the system report too
            if web_answers(base) and workers_answering() >= set(WORKER_QUEUES) and system_report()[0]:
                break
            time.sleep(0.5)
        else:
            self.stderr.write(f"not ready after {STARTUP_TIMEOUT_SECONDS}s: see {base}healthz and the log above")
            return
        flower_user, flower_password = env["FLOWER_BASIC_AUTH"].split(":", 1)
        self.stdout.write(
            self.style.SUCCESS(f"\nReady in {time.time() - started_at:.1f}s.\n")
            + f"  App:     {base}   (customer1 / {password}, staff: admin / {password})\n"
            + f"  Admin:   {base}admin/\n"
            + f"  Flower:  {env['FLOWER_URL']}   ({flower_user} / {flower_password})\n"
            + f"  Health:  {base}healthz/system (staff)\n"
            + f"  Metrics: curl -H 'Authorization: Bearer {env['METRICS_TOKEN']}' {base}metrics\n"
            + f"  Mail:    {settings.RUN_DIR / 'mail'}/*.eml\n"
            + "Press Ctrl-C to stop everything.\n"
        )


def web_answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def workers_answering() -> set[str]:
    """Queue names of the Procfile workers that answer a broadcast ping on this stack's broker."""
    try:
        replies = app.control.ping(timeout=1.0)
    except Exception:  # the broker is still starting: not ready yet
        return set()
    return {hostname.split("@", 1)[0] for reply in replies for hostname in reply}


def local_secrets(path: Path) -> dict[str, str]:
    """The demo accounts' password and the metrics token, generated once and kept so every run prints the
    same ones."""
    kept = json.loads(path.read_text()) if path.exists() else {}
    generated = {"password": secrets.token_urlsafe(12), "metrics_token": secrets.token_urlsafe(24)}
    if not generated.keys() <= kept.keys():
        kept = generated | kept
        path.write_text(json.dumps(kept))
        path.chmod(0o600)
    return kept
