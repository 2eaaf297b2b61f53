"""`make run`: the whole stack on one machine without Docker.

Starts the embedded PostgreSQL when DATABASE_URL is unset and the embedded Valkey when REDIS_URL is unset
(their data under RUN_DIR, reused by the next run), migrates, seeds demo data and the admin account, then
runs every process of the Procfile (web, workers, beat, Flower, outbox relay, mail sink) under honcho.
Ctrl-C stops all of them, the embedded servers last."""

import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from core.embedded import EmbeddedPostgres, EmbeddedServerError, EmbeddedValkey

STARTUP_TIMEOUT_SECONDS = 120


class Command(BaseCommand):
    help = "Run web, workers, beat, Flower and their helpers from the Procfile."

    def handle(self, *args, **options):
        started_at = float(os.environ.get("RUN_STARTED_AT") or time.time())
        settings.RUN_DIR.mkdir(exist_ok=True)
        env = os.environ.copy()
        embedded = []
        try:
            if "DATABASE_URL" not in os.environ:
                database = EmbeddedPostgres(data_dir=settings.RUN_DIR / "postgres", port=settings.EMBEDDED_POSTGRES_PORT)
                embedded.append(database)
                self.start_embedded(database, database="app")
            if "REDIS_URL" not in os.environ:
                store = EmbeddedValkey(data_dir=settings.RUN_DIR / "valkey", port=settings.EMBEDDED_REDIS_PORT)
                embedded.append(store)
                self.start_embedded(store)
            env["DATABASE_URL"] = settings.DATABASE_URL
            env["REDIS_URL"] = settings.REDIS_URL
            password = demo_password(settings.RUN_DIR / "credentials.json")
            call_command("migrate", interactive=False, verbosity=0)
            call_command("seed_demo", password=password, stdout=self.stdout)
            env.setdefault("FLOWER_BASIC_AUTH", f"admin:{password}")
            env.setdefault("WEB_PORT", "8000")
            env.setdefault("FLOWER_PORT", "5555")
            env.setdefault("EMAIL_PORT", str(settings.EMAIL_PORT))
            env.setdefault("CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT", "2")  # honcho kills after 5 s
            honcho = subprocess.Popen([sys.executable, "-m", "honcho", "-f", "Procfile", "start"], env=env)
            base = f"http://127.0.0.1:{env['WEB_PORT']}/"
            threading.Thread(
                target=self.announce_when_ready, args=(base, env, password, started_at), daemon=True
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

    def announce_when_ready(self, base: str, env: dict, password: str, started_at: float) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(base + "healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            self.stderr.write(f"not healthy after {STARTUP_TIMEOUT_SECONDS}s: see {base}healthz")
            return
        flower_user = env["FLOWER_BASIC_AUTH"].split(":", 1)[0]
        self.stdout.write(
            self.style.SUCCESS(f"\nReady in {time.time() - started_at:.1f}s.\n")
            + f"  App:     {base}   (customer1 / {password}, staff: admin / {password})\n"
            + f"  Admin:   {base}admin/\n"
            + f"  Flower:  http://127.0.0.1:{env['FLOWER_PORT']}/   ({flower_user} / FLOWER_BASIC_AUTH)\n"
            + f"  Health:  {base}healthz\n"
            + f"  Mail:    {settings.RUN_DIR / 'mail'}/*.eml\n"
            + "Press Ctrl-C to stop everything.\n"
        )


def demo_password(path: Path) -> str:
    """One generated password for the admin and demo accounts, kept so a second run prints the same."""
    if path.exists():
        return json.loads(path.read_text())["password"]
    password = secrets.token_urlsafe(12)
    path.write_text(json.dumps({"password": password}))
    path.chmod(0o600)
    return password
