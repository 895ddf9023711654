"""A private PostgreSQL cluster that a test can stop and start: a real outage, not a mock.

Made with the machine's `initdb` and `pg_ctl` (LATCHKEY_TEST_PG_BIN, default
/usr/lib/postgresql/15/bin) in a temporary directory, listening on a free
loopback port. PostgreSQL refuses to run as root, so when the tests do, the
cluster belongs to the `postgres` OS user and every command runs as that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.server import free_port

PG_BIN = Path(os.environ.get("LATCHKEY_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"


class ClusterUnavailableError(RuntimeError):
    pass


class PrivateCluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.port = free_port()

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the cluster's `postgres` database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        self.sockets.mkdir()
        _hand_to_os_user(self.root)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.sockets} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.root / "server.log"), "-o", options)

    def stop(self) -> None:
        """Stop at once: open connections are cut, as in an outage."""
        self._pg_ctl("stop", "-w", "-t", "60", "-m", "fast")

    def is_running(self) -> bool:
        status = subprocess.run(
            [*_as_os_user(), str(PG_BIN / "pg_ctl"), "status", "-D", str(self.data)],
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def terminate_backend(self, pid: int) -> None:
        """Cut one server connection, as a network drop or a server restart would."""
        with psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=5) as admin:
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), *args)

    def _run(self, program: str, *args: str) -> None:
        result = subprocess.run(
            [*_as_os_user(), str(PG_BIN / program), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise ClusterUnavailableError(f"{program} failed: {result.stderr.strip()[-500:]}")


def _as_os_user() -> list[str]:
    return ["runuser", "-u", OS_USER, "--"] if os.geteuid() == 0 else []


def _hand_to_os_user(root: Path) -> None:
    if os.geteuid() != 0:
        return
    user = pwd.getpwnam(OS_USER)
    for path in (root, *root.rglob("*")):
        os.chown(path, user.pw_uid, user.pw_gid)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the outage tests must run)", pytrace=False)
    pytest.skip(f"{reason}; set CI=1 to make this a failure")


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started cluster, stopped and deleted afterwards; skips (fails under CI) without one."""
    if not (PG_BIN / "initdb").exists():
        _unavailable(f"no initdb in {PG_BIN}")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            _unavailable(f"running as root needs the {OS_USER!r} OS user")
    # Not under pytest's tmp_path: that is private to root, and the cluster's
    # owner must be able to reach its directory.
    root = Path(tempfile.mkdtemp(prefix="latchkey-pg-"))
    cluster = PrivateCluster(root)
    try:
        try:
            cluster.init()
            cluster.start()
        except ClusterUnavailableError as error:
            _unavailable(str(error))
        yield cluster
    finally:
        if cluster.data.exists() and cluster.is_running():
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
