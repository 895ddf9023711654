"""nginx from the distribution, run by the tests in front of the instances, with the
site template that operators use (deploy/nginx/latchkey.conf)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from string import Template

import pytest

from tests.server import wait_until_healthy

SITE_TEMPLATE = Path(__file__).parents[2] / "deploy" / "nginx" / "latchkey.conf"


def nginx_binary() -> str:
    """The nginx binary; skip without one, or fail under CI (.ci/run installs it)."""
    # /usr/sbin is not on every PATH of an unprivileged user.
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        message = "nginx is not installed (apt-get install nginx)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI installs it in .ci/run", pytrace=False)
        pytest.skip(f"{message}; set CI to make this a failure")
    return found


def render_site(listen: str, upstreams: Sequence[str]) -> str:
    """The template with its two variables filled in, as envsubst would."""
    servers = "\n    ".join(
        f"server {address} max_fails=2 fail_timeout=5s;" for address in upstreams
    )
    # safe_substitute leaves nginx's own $variables ($host, $remote_addr) alone.
    site = Template(SITE_TEMPLATE.read_text()).safe_substitute(
        LATCHKEY_LISTEN=listen, LATCHKEY_UPSTREAM_SERVERS=servers
    )
    assert "${LATCHKEY_" not in site, "the template has a variable the tests do not fill"
    return site


def _main_config(workdir: Path, site: Path) -> str:
    # Everything nginx writes stays under workdir: no /var/log, /run or port 80.
    user = ""
    if os.geteuid() == 0:
        # Workers would otherwise drop to `nobody`, who cannot enter a private tmp dir.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};"
    temp_paths = "\n".join(
        f"    {kind}_temp_path {workdir / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}
worker_processes 1;
pid {workdir / "nginx.pid"};
error_log {workdir / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    access_log {workdir / "access.log"};
{temp_paths}
    include {site};
}}
"""


@contextmanager
def running_nginx(workdir: Path, port: int, upstreams: Sequence[str]) -> Iterator[str]:
    """nginx on 127.0.0.1:port in front of `upstreams` (host:port); yields its base URL."""
    binary = nginx_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    site = workdir / "latchkey.conf"
    site.write_text(render_site(f"127.0.0.1:{port}", upstreams))
    config = workdir / "nginx.conf"
    config.write_text(_main_config(workdir, site))
    command = [binary, "-p", str(workdir), "-c", str(config), "-e", str(workdir / "error.log")]
    # Fail with nginx's own words on a bad config, rather than time out below.
    checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        raise RuntimeError(f"nginx refuses the generated config: {checked.stderr}")
    process = subprocess.Popen(
        [*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url, process, "nginx", seconds=20, log=workdir / "error.log")
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
