"""A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` in a temporary folder, one server on a
free loopback port, stopped by its pid and deleted afterwards.

    with ThrowawayPostgres() as pg:
        psycopg.connect(pg.url)

It uses the server binaries of Debian's `postgresql` package (`/usr/lib/postgresql/<version>/bin`, or
`initdb` on PATH). PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres`
system user the package creates. Nothing listens beyond 127.0.0.1, and the only way in is the
cluster's own superuser over a password-less loopback connection, which exists only for the test.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER = "swarm"
DATABASE = "swarm"
READY_S = 60.0


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries here, or the cluster would not start; the message says which and what to do."""


def server_binaries() -> Path | None:
    """The folder holding initdb and postgres: the newest Debian version's, else the one on PATH."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    if versions:
        return versions[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class ThrowawayPostgres:
    """One cluster: `start()` runs initdb and the server and waits until it accepts connections; `stop()`
    ends the server by its pid (fast shutdown, then SIGKILL) and deletes the folder."""

    def __init__(self, port: int | None = None):
        self.bin = server_binaries()
        if self.bin is None:
            raise PostgresUnavailable("no PostgreSQL server found (initdb): install Debian's postgresql package "
                                      "(apt-get install postgresql), or put initdb on PATH")
        self.port = port or free_port()
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None
        self._owner = _unprivileged_user()

    @property
    def url(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> ThrowawayPostgres:
        self.folder = Path(tempfile.mkdtemp(prefix="swarm-pg-"))
        data = self.folder / "data"
        if self._owner is not None:
            os.chown(self.folder, self._owner.pw_uid, self._owner.pw_gid)
        self._as_owner([str(self.bin / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8",
                        "--no-sync", "--no-instructions"], what="initdb")
        log = open(self.folder / "server.log", "ab")
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port),
             "-k", str(self.folder), "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=200"],
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=self._demote(), start_new_session=True)
        log.close()
        self._wait_ready()
        self._as_owner([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, DATABASE],
                       what="createdb")
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # fast shutdown: ends sessions, no checkpoint wait
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> ThrowawayPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def create_database(self, template: str | None = None) -> str:
        """A new database in this cluster (a copy of `template`, a database of it, when given): its URL."""
        import uuid

        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url.rsplit("/", 1)[0] + "/" + name

    def drop_database(self, url: str) -> None:
        """Drop a database create_database made (ending the sessions still on it)."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return (self.folder / "server.log").read_text(errors="replace")[-chars:] if self.folder else ""
        except OSError:
            return ""

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PostgresUnavailable(f"the PostgreSQL server exited at start (code {self.process.returncode}):\n"
                                          f"{self.log_tail()}")
            ready = subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                                   capture_output=True)
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise PostgresUnavailable(f"the PostgreSQL server did not accept connections within {READY_S:.0f} s")

    def _as_owner(self, argv: list[str], what: str) -> None:
        done = subprocess.run(argv, capture_output=True, text=True, preexec_fn=self._demote(), cwd=self.folder)
        if done.returncode != 0:
            folder = self.folder
            self.stop()
            raise PostgresUnavailable(f"{what} failed in {folder} (code {done.returncode}): "
                                      f"{(done.stderr or done.stdout).strip()[-1500:]}")

    def _demote(self):
        owner = self._owner
        if owner is None:
            return None

        def demote() -> None:
            os.setgid(owner.pw_gid)
            os.setuid(owner.pw_uid)
        return demote


def _unprivileged_user() -> pwd.struct_passwd | None:
    """As root: the `postgres` user (PostgreSQL will not run as root); otherwise None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable("running as root, and there is no `postgres` user to run the server as: install "
                                  "Debian's postgresql package, or run as an ordinary user") from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
