"""`make bench`: Latchkey's figures against ceilings measured in the same run.

See ../shared/PERFORMANCE.md for the figures and targets, bench/README.md for
how to run this and read its output. In short: a throwaway PostgreSQL
database, `latchkey serve` and the bare `hello` app on loopback with the same
worker count, a warm-up, then each figure as the median of several short wrk
runs; one table on stdout, bench/results/latest.json and latest.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import api, cputime, report
from bench.database import BenchDatabase
from bench.report import Figure, median
from bench.servers import (
    REPO,
    Server,
    free_port,
    hello_command,
    latchkey_command,
    memory_kib,
    reset_peak,
    start_server,
)
from bench.wrk import Wrk, WrkResult, wrk_path

RESULTS = Path(__file__).with_name("results")
EMAIL_FORMAT = "bench-%d@example.com"
# Settings that throttle a client or an account: raised so that the benchmark
# measures the work of a request, not the 429 of a throttle.
THROTTLE_SETTING = re.compile(
    r"max_failures|max_per_|_per_ip|per_second|per_minute|rate_limit|burst|max_attempts|max_requests"
)
UNTHROTTLED = 1_000_000_000
MIB = 1024
# Between runs: requests that wrk left in flight finish before the next run starts.
SETTLE_SECONDS = 1.0
MAX_SET_UP_SECONDS = 300
TEARDOWN_SECONDS = 15  # stopping the servers, dropping the database, the chart


@dataclass
class Options:
    workers: int
    runs: int
    seconds: float
    connections: int
    users: int
    small: int
    large: int
    rss_refreshes: int
    rss_max_seconds: float
    budget_seconds: float
    out: Path
    started_at: float | None = None  # time.time() when `make bench` began, if given


@dataclass
class Context:
    options: Options
    db: BenchDatabase
    latchkey: Server
    hello: Server
    env: dict[str, str]
    client_cpus: list[int]
    server_cpus: list[int]
    password: str
    password_hash: str
    tmp: Path
    pinning: str
    started: float  # time.monotonic() when `make bench` began: the budget counts from it
    postmaster: int | None = None  # PostgreSQL's, when it runs on this machine
    load_generator: dict[str, float] = field(default_factory=dict)
    # Started with each wrk: a run's CPU counts from then, after its set-up
    # (the logins that make fresh refresh chains) is done.
    meter: cputime.Meter | None = None
    # Each run's CPU per request, by workload.
    cpu_per_request: dict[str, list[cputime.PerRequest]] = field(default_factory=dict)
    emails_used: int = 0

    def wrk(
        self,
        server: Server,
        script: str,
        *,
        path: str = "/",
        seconds: float | None = None,
        connections: int | None = None,
        env: dict[str, str] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> Wrk:
        self.meter = cputime.Meter(server.worker_pids(), self.postmaster)
        return Wrk(
            server.base_url + path,
            script,
            seconds=seconds or self.options.seconds,
            connections=connections or self.options.connections,
            cpus=self.client_cpus,
            env={
                "BENCH_USERS": str(self.options.users),
                "BENCH_EMAIL_FORMAT": EMAIL_FORMAT,
                "BENCH_PASSWORD": self.password,
                **(env or {}),
            },
            on_progress=on_progress,
        )

    def note_load_generator(self, name: str, result: WrkResult) -> None:
        self.load_generator[name] = max(self.load_generator.get(name, 0.0), result.cpu_share)

    def note_cpu_per_request(self, name: str, result: WrkResult) -> None:
        if self.meter is not None:
            self.cpu_per_request.setdefault(name, []).append(
                self.meter.per_request(result.requests)
            )

    def hash_threads(self) -> int:
        """The hash ceiling's threads: one per CPU the servers may use."""
        return len(self.server_cpus or os.sched_getaffinity(0))

    def emails(self, count: int) -> list[str]:
        """`count` bench users, spread over all of them rather than always the first."""
        chosen = [
            EMAIL_FORMAT % ((self.emails_used + i) % self.options.users + 1) for i in range(count)
        ]
        self.emails_used += count
        return chosen

    def sessions(self, count: int) -> list[api.TokenPair]:
        return api.log_in_many(self.latchkey.base_url, self.emails(count), self.password)

    def chains_file(self, name: str) -> Path:
        """Fresh refresh-token chains, one per connection and two spare."""
        pairs = self.sessions(self.options.connections + 2)
        return api.write_lines(self.tmp / name, [p.refresh_token for p in pairs])


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def checked(name: str, result: WrkResult) -> WrkResult:
    if result.error_share > 0.01:
        log(
            f"  warning: {name}: {result.errors} of {result.requests} answers were errors"
            f" ({result.chains_lost} refresh chains lost)"
        )
    return result


def once(ctx: Context, name: str, run_once: Callable[[], WrkResult]) -> WrkResult:
    """One run after the machine settles, checked for errors, its load
    generator's CPU and the servers' noted."""
    time.sleep(SETTLE_SECONDS)
    result = checked(name, run_once())
    ctx.note_load_generator(name, result)
    ctx.note_cpu_per_request(name, result)
    return result


def repeat(
    ctx: Context, name: str, run_once: Callable[[], WrkResult], pick: Callable[[WrkResult], float]
) -> tuple[float, list[float]]:
    values = [pick(once(ctx, name, run_once)) for _ in range(ctx.options.runs)]
    return median(values), values


def rate(result: WrkResult) -> float:
    return result.good_per_second


@dataclass
class Paired:
    """A figure's runs, each right after a run of its ceiling: rates against
    `hello` (or `hash` for logins), or the refresh p50 on the large database
    against the p50 on the small one. The machine's speed drifts over a `make
    bench` (the hello ceiling moved by a third between two runs an hour
    apart): each run is divided by the ceiling run next to it, and the median
    of those ratios is the figure's ratio."""

    values: list[float]
    ceilings: list[float]

    def ratios(self) -> list[float]:
        return [v / c if c else 0.0 for v, c in zip(self.values, self.ceilings, strict=True)]


def alternate(ctx: Context, ceiling: Callable[[], float], value: Callable[[], float]) -> Paired:
    paired = Paired([], [])
    for _ in range(ctx.options.runs):
        paired.ceilings.append(ceiling())
        paired.values.append(value())
    return paired


def repeat_paired(ctx: Context, name: str, run_once: Callable[[], WrkResult]) -> Paired:
    return alternate(
        ctx,
        lambda: rate(once(ctx, "hello", lambda: hello_run(ctx))),
        lambda: rate(once(ctx, name, run_once)),
    )


# ---------------------------------------------------------------- the figures


def hello_run(ctx: Context) -> WrkResult:
    return ctx.wrk(ctx.hello, "plain.lua").result()


def measure_hello(ctx: Context) -> tuple[float, list[float]]:
    return repeat(ctx, "hello", lambda: hello_run(ctx), rate)


def hash_rate(ctx: Context) -> tuple[float, str]:
    """One run of the hash ceiling: verifies per second, and how they were made."""
    threads = ctx.hash_threads()
    command = [
        sys.executable,
        "-m",
        "bench.hashrate",
        f"--threads={threads}",
        f"--seconds={ctx.options.seconds}",
        "--runs=1",
    ]
    if ctx.server_cpus:
        command = ["taskset", "--cpu-list", ",".join(map(str, ctx.server_cpus)), *command]
    env = dict(ctx.env, BENCH_HASH=ctx.password_hash, BENCH_PASSWORD=ctx.password)
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.hashrate exited {done.returncode}: {done.stderr[-500:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return float(data["rates"][0]), f"{data['parameters']}, {threads} threads"


def measure_login(ctx: Context) -> tuple[Paired, str]:
    """Logins, each run right after a run of the hash ceiling (and how it hashed)."""
    how = [""]

    def hash_ceiling() -> float:
        time.sleep(SETTLE_SECONDS)
        verifies, how[0] = hash_rate(ctx)
        return verifies

    paired = alternate(
        ctx,
        hash_ceiling,
        lambda: rate(once(ctx, "login", lambda: ctx.wrk(ctx.latchkey, "login.lua").result())),
    )
    return paired, how[0]


def refresh_run(ctx: Context, name: str) -> WrkResult:
    chains = ctx.chains_file(f"{name}-chains.txt")
    return ctx.wrk(ctx.latchkey, "refresh.lua", env={"BENCH_TOKENS": str(chains)}).result()


def measure_refresh(ctx: Context) -> Paired:
    return repeat_paired(ctx, "refresh", lambda: refresh_run(ctx, "refresh"))


def access_tokens_file(ctx: Context) -> Path:
    pairs = ctx.sessions(ctx.options.connections)
    return api.write_lines(ctx.tmp / "access.txt", [p.access_token for p in pairs])


def measure_me(ctx: Context) -> Paired:
    tokens = access_tokens_file(ctx)
    env = {"BENCH_TOKENS": str(tokens)}
    return repeat_paired(ctx, "me", lambda: ctx.wrk(ctx.latchkey, "me.lua", env=env).result())


def measure_introspect(ctx: Context) -> Paired | str:
    """The median rate, or why /oauth/introspect cannot be measured (yet)."""
    if not api.introspect_exists(ctx.latchkey.base_url):
        return "POST /oauth/introspect answers 404: not built yet"
    created = api.create_service_client(ctx.env)
    if isinstance(created, str):
        return created
    basic = api.basic_auth(*created)
    tokens = access_tokens_file(ctx)
    first = tokens.read_text().split()[0]
    problem = api.probe_introspect(ctx.latchkey.base_url, basic, first)
    if problem is not None:
        return problem
    env = {"BENCH_TOKENS": str(tokens), "BENCH_BASIC_AUTH": basic}
    return repeat_paired(
        ctx, "introspect", lambda: ctx.wrk(ctx.latchkey, "introspect.lua", env=env).result()
    )


def measure_healthz_under_login_storm(ctx: Context) -> tuple[float, list[float], float]:
    """p99 of /healthz (4 connections) while `login` runs at full concurrency."""
    p99s, storm_rates = [], []
    for _ in range(ctx.options.runs):
        time.sleep(SETTLE_SECONDS)
        storm = ctx.wrk(ctx.latchkey, "login.lua", seconds=ctx.options.seconds + 2)
        time.sleep(1)  # the storm is on
        probe = ctx.wrk(ctx.latchkey, "plain.lua", path="/healthz", connections=4).result()
        storm_result = storm.result()
        checked("healthz", probe)
        ctx.note_load_generator("healthz+login", probe)
        p99s.append(probe.p99_ms)
        storm_rates.append(storm_result.good_per_second)
    return median(p99s), p99s, median(storm_rates)


def measure_scaling(ctx: Context) -> Paired:
    """Refresh p50s on a database of `large` sessions (`values`), each run right
    after one on a database of `small` sessions (`ceilings`).

    The small database has a service of its own, so that the two take turns:
    run as all the small runs, then all the large ones, the ratio measured the
    machine's drift between the two sets as much as the tables (1.37 once,
    with no query changed). Each service serves an unmeasured run first.
    """
    o = ctx.options
    chains = (o.runs + 1) * (o.connections + 2)  # the warm-up and the runs, on each side
    if chains > o.small:
        log(f"  warning: the runs' own {chains:,} sessions exceed --small ({o.small:,})")
    with ExitStack() as stack:
        db = BenchDatabase()
        stack.callback(db.drop)
        server, env, _ = start_latchkey("latchkey-small", db, ctx.tmp, o, ctx.server_cpus)
        stack.callback(server.stop)
        db.add_users(bench_emails(o), ctx.password_hash)
        small = replace(ctx, db=db, latchkey=server, env=env, emails_used=0)
        db.seed_sessions(max(0, o.small - chains), ctx.password_hash)
        ctx.db.clear_sessions()
        seed_started = time.monotonic()
        ctx.db.seed_sessions(max(0, o.large - chains), ctx.password_hash)
        seeded_in = time.monotonic() - seed_started
        log(
            f"  small database {db.count_sessions():,} sessions, large"
            f" {ctx.db.count_sessions():,} (seeded in {seeded_in:.0f} s), before the runs"
        )
        refresh_run(small, "warm-up-small")  # a new service: its first requests prepare
        refresh_run(ctx, "warm-up-large")  # new rows, new plans
        return alternate(
            ctx,
            lambda: once(small, "refresh-small", lambda: refresh_run(small, "small")).p50_ms,
            lambda: once(ctx, "refresh-large", lambda: refresh_run(ctx, "large")).p50_ms,
        )


@dataclass
class RssRun:
    refreshes: int
    seconds: float
    capped: bool  # stopped by the time cap before `rss_refreshes`
    start_mib: float  # the largest worker RSS when the run began
    peak_mib: float  # the largest worker VmHWM during the run
    peak_since_start: bool  # VmHWM could not be reset: the peak counts from the start
    growth_mib: float  # RSS at the end minus RSS halfway, the largest of the workers
    flat: bool
    series: dict[str, list[tuple[int, float]]]


def measure_rss(ctx: Context, max_seconds: float) -> RssRun:
    """Sample each worker's VmRSS/VmHWM while refreshes run until `rss_refreshes` are done.

    The workers are those of the running service, after the other workloads
    (as in production, the same workers also served logins); their VmHWM is
    reset when the run begins so that the peak is the run's own.
    """
    target = ctx.options.rss_refreshes
    chains = ctx.chains_file("rss-chains.txt")
    workers = ctx.latchkey.worker_pids()
    done = [0]

    def progress(count: int) -> None:
        done[0] += count

    series: dict[str, list[tuple[int, float]]] = {f"worker {pid}": [] for pid in workers}
    reset = all([reset_peak(pid) for pid in workers])
    start_kib = max(memory_kib(pid)[0] for pid in workers)
    started = time.monotonic()
    run = ctx.wrk(
        ctx.latchkey,
        "refresh.lua",
        seconds=max_seconds,
        env={"BENCH_TOKENS": str(chains), "BENCH_PROGRESS_EVERY": "250"},
        on_progress=progress,
    )
    peak_kib = 0
    while run.running():
        for pid in workers:
            rss_kib, hwm_kib = memory_kib(pid)
            series[f"worker {pid}"].append((done[0], rss_kib / MIB))
            peak_kib = max(peak_kib, hwm_kib)
        if done[0] >= target:
            run.interrupt()
            break
        time.sleep(0.25)
    result = checked("rss", run.result())
    seconds = time.monotonic() - started
    for pid in workers:
        rss_kib, hwm_kib = memory_kib(pid)
        series[f"worker {pid}"].append((done[0], rss_kib / MIB))
        peak_kib = max(peak_kib, hwm_kib)
    growth = max(_growth_over_last_half(points) for points in series.values())
    halfway = min(_rss_near(points, 0.5) for points in series.values())
    refreshes = max(done[0], result.requests - result.errors)
    return RssRun(
        refreshes=refreshes,
        seconds=seconds,
        capped=refreshes < target,
        start_mib=start_kib / MIB,
        peak_mib=peak_kib / MIB,
        peak_since_start=not reset,
        growth_mib=growth,
        # A leak of a few hundred bytes per refresh would add megabytes here;
        # allocator noise stays within a few percent.
        flat=growth <= max(4.0, 0.03 * halfway),
        series=series,
    )


def _rss_near(points: Sequence[tuple[int, float]], share: float, width: float = 0.05) -> float:
    """The median RSS of the samples taken around `share` of the run's refreshes."""
    if not points:
        return 0.0
    total = points[-1][0] or 1
    near = [rss for done, rss in points if abs(done / total - share) <= width]
    return median(near or [points[-1][1]])


def _growth_over_last_half(points: Sequence[tuple[int, float]]) -> float:
    return _rss_near(points, 0.95) - _rss_near(points, 0.5)


# ---------------------------------------------------------------- set-up


def cpu_split() -> tuple[list[int], list[int], str]:
    """(client CPUs, server CPUs, what was pinned); empty server CPUs = not pinned."""
    cpus = sorted(os.sched_getaffinity(0))
    client = cpus[-1:]
    if len(cpus) >= 4:
        server = cpus[:-1]
        return (
            client,
            server,
            (
                f"wrk pinned to CPU {client[0]}; servers, hash ceiling pinned to CPUs "
                f"{','.join(map(str, server))}; PostgreSQL not pinned"
            ),
        )
    return (
        client,
        [],
        (
            f"wrk pinned to CPU {client[0]}; servers, PostgreSQL and the hash ceiling not pinned "
            f"(on {len(cpus)} CPUs, pinning the servers to the rest would halve them against "
            f"the hash ceiling)"
        ),
    )


def unthrottled_settings() -> dict[str, str]:
    """Every throttle setting that the service has today, raised as far as it allows."""
    from entrypoints.settings import Settings

    raised = {}
    for name, info in Settings.model_fields.items():
        if info.annotation is not int or not THROTTLE_SETTING.search(name):
            continue
        value = UNTHROTTLED
        for constraint in info.metadata:
            le = getattr(constraint, "le", None)
            lt = getattr(constraint, "lt", None)
            if isinstance(le, int):
                value = min(value, le)
            if isinstance(lt, int):
                value = min(value, lt - 1)
        raised[f"LATCHKEY_{name.upper()}"] = str(value)
    return raised


def service_env(db: BenchDatabase, tmp: Path, port: int) -> tuple[dict[str, str], list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")}
    raised = unthrottled_settings()
    env.update(
        LATCHKEY_DATABASE_URL=db.url,
        LATCHKEY_AUTO_MIGRATE="true",
        LATCHKEY_DATA_DIR=str(tmp / "data"),
        LATCHKEY_ISSUER=f"http://127.0.0.1:{port}",
        **raised,
    )
    return env, sorted(raised)


def machine() -> dict[str, Any]:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    wrk_version = subprocess.run(
        [wrk_path(), "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": wrk_version[0] if wrk_version else "?",
    }


def bench_emails(options: Options) -> list[str]:
    return [EMAIL_FORMAT % i for i in range(1, options.users + 1)]


def start_latchkey(
    name: str, db: BenchDatabase, tmp: Path, options: Options, cpus: list[int]
) -> tuple[Server, dict[str, str], list[str]]:
    """`latchkey serve` on `db`, with its data directory under `tmp`; and its
    environment, and the throttle settings raised in it."""
    port = free_port()
    env, raised = service_env(db, tmp / name, port)
    server = start_server(
        name,
        latchkey_command(port, options.workers),
        port=port,
        health_path="/healthz",
        log_dir=tmp,
        env=env,
        cpus=cpus,
    )
    return server, env, raised


@contextmanager
def environment(options: Options, started: float) -> Iterator[Context]:
    """Database, both servers and the bench users; everything is undone on the way out."""
    client_cpus, server_cpus, pinning = cpu_split()
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="latchkey-bench-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        db = BenchDatabase()
        stack.callback(db.drop)
        log(f"database {db.name} (PostgreSQL {db.server_version()})")
        log(f"pinning: {pinning}")
        latchkey, env, raised = start_latchkey("latchkey", db, tmp, options, server_cpus)
        stack.callback(latchkey.stop)
        log(f"throttles raised for the bench: {', '.join(raised) or 'none found'}")
        hello_port = free_port()
        hello = start_server(
            "hello",
            hello_command(hello_port, options.workers),
            port=hello_port,
            health_path="/",
            log_dir=tmp,
            env=env,
            cpus=server_cpus,
        )
        stack.callback(hello.stop)
        log(f"latchkey {latchkey.base_url}, hello {hello.base_url}: {options.workers} workers each")

        # One sign-up through the API gives a hash made by the service's own
        # configured hasher: every bench user shares it (and its password),
        # and the hash ceiling verifies it.
        password = "Bench-" + secrets.token_urlsafe(18)
        reference = "bench-reference@example.com"
        api.sign_up(latchkey.base_url, reference, password)
        with db.connect() as conn:
            row = conn.execute(
                "SELECT password_hash FROM users WHERE email_canonical = %s", (reference,)
            ).fetchone()
            postmaster = cputime.postmaster_of(conn)
        log(
            f"PostgreSQL's CPU: read from /proc (postmaster {postmaster})"
            if postmaster
            else "PostgreSQL's CPU: not readable here (another machine or container); not reported"
        )
        if row is None:
            raise RuntimeError("the reference user is not in the database")
        password_hash = str(row[0])
        db.add_users(bench_emails(options), password_hash)
        log(f"{options.users:,} users created, sharing one hash ({password_hash.split('$')[3]})")
        yield Context(
            options=options,
            db=db,
            latchkey=latchkey,
            hello=hello,
            env=env,
            client_cpus=client_cpus,
            server_cpus=server_cpus,
            password=password,
            password_hash=password_hash,
            tmp=tmp,
            pinning=pinning,
            started=started,
            postmaster=postmaster,
        )
        log("stopping the servers and dropping the database")


def warm_up(ctx: Context) -> None:
    seconds = 2.0
    ctx.wrk(ctx.hello, "plain.lua", seconds=seconds).result()
    ctx.wrk(ctx.latchkey, "login.lua", seconds=seconds).result()
    chains = ctx.chains_file("warm-up-chains.txt")
    ctx.wrk(
        ctx.latchkey, "refresh.lua", seconds=seconds, env={"BENCH_TOKENS": str(chains)}
    ).result()
    tokens = access_tokens_file(ctx)
    ctx.wrk(ctx.latchkey, "me.lua", seconds=seconds, env={"BENCH_TOKENS": str(tokens)}).result()


def the_figures(o: Options) -> list[Figure]:
    """The rows of PERFORMANCE.md's target table, in its order, not yet measured."""

    def throughput(key: str, ceiling: str, target: float) -> Figure:
        return Figure(
            key=key,
            name=f"{key} throughput / {ceiling}",
            unit="req/s",
            target=target,
            better="higher",
            target_text=f">= {target:.2f}",
            ceiling_name=ceiling,
        )

    return [
        throughput("refresh", "hello", 0.40),
        throughput("login", "hash", 0.85),
        throughput("me", "hello", 0.60),
        throughput("introspect", "hello", 0.50),
        Figure(
            key="healthz_p99",
            name="/healthz p99 during login storm",
            unit="ms",
            target=25,
            better="lower",
            target_text="<= 25 ms",
        ),
        Figure(
            key="refresh_scaling",
            name=f"refresh p50, {_count(o.large)} sessions / {_count(o.small)}",
            unit="ms",
            target=1.3,
            better="lower",
            target_text="<= 1.3",
            ceiling_name=f"{_count(o.small)}:",
        ),
        Figure(
            key="rss",
            name=f"peak RSS of a worker, {_count(o.rss_refreshes)} refreshes",
            unit="MiB",
            target=200,
            better="lower",
            target_text="<= 200 MiB, flat",
        ),
    ]


def measure_all(ctx: Context, figures: dict[str, Figure]) -> dict[str, Any]:
    """Fill in `figures`; return what else the JSON should hold. A figure whose
    measurement fails gets a note and `n/a`; the others still run."""
    o = ctx.options
    extra: dict[str, Any] = {"ceilings": {}, "rss_series": {}, "cpu_ms_per_request": {}}
    failures: list[str] = []

    def step(name: str, action: Callable[[], None]) -> None:
        began = time.monotonic()
        log(f"{name} ...")
        try:
            action()
        except Exception as error:  # one broken figure must not lose the others
            failures.append(name)
            target = figures.get(name)
            if target is not None:
                target.note = f"error: {type(error).__name__}: {str(error)[:300]}"
            log(f"  {name} failed: {type(error).__name__}: {error}")
        log(f"  {name} took {time.monotonic() - began:.0f} s")

    def hello() -> None:
        value, runs = measure_hello(ctx)
        extra["ceilings"]["hello"] = {"value": value, "unit": "req/s", "runs": runs}
        log(f"  hello ceiling: {value:,.0f} req/s {_runs(runs)}")

    def login() -> None:
        measured, how = measure_login(ctx)
        runs = measured.ceilings
        extra["ceilings"]["hash"] = {
            "value": median(runs),
            "unit": "verifies/s",
            "runs": runs,
            "how": how,
        }
        log(f"  hash ceiling: {median(runs):,.1f} verifies/s ({how}) {_runs(runs)}")
        paired(figures["login"], measured)

    def throughput(key: str, measure: Callable[[], Paired | str]) -> None:
        measured = measure()
        if isinstance(measured, str):
            figures[key].note = measured
            log(f"  {key}: n/a ({measured})")
            return
        paired(figures[key], measured)

    def paired(figure: Figure, measured: Paired) -> None:
        ceiling = figure.ceiling_name or "hello"
        unit = "verifies/s" if ceiling == "hash" else "req/s"
        judge_paired(
            figure,
            measured,
            unit,
            f"each run next to its own {ceiling} run: {ceiling} {_runs(measured.ceilings)}",
        )
        note, cpu, bound = cpu_note(ctx, figure.key, measured)
        if note:
            figure.note += f". {note}"
            extra["cpu_ms_per_request"][figure.key] = cpu
        if bound is not None:
            extra["refresh_bound_by_postgres"] = bound
        log(
            f"  {figure.key}: {figure.value:,.1f} req/s {_runs(measured.values)},"
            f" paired {ceiling} {_runs(measured.ceilings)}, ratio {figure.ratio:.2f}"
        )

    def healthz() -> None:
        figure = figures["healthz_p99"]
        p99, runs, storm = measure_healthz_under_login_storm(ctx)
        figure.value, figure.runs = p99, runs
        figure.note = f"login storm ran at {storm:,.1f} logins/s meanwhile"
        figure.judge()
        log(f"  /healthz p99 {p99:.1f} ms {_runs(runs)} (logins {storm:,.1f}/s)")

    def rss() -> None:
        figure = figures["rss"]
        # The last step: it gets what is left of the time budget.
        left = o.budget_seconds - (time.monotonic() - ctx.started) - TEARDOWN_SECONDS
        cap = max(15.0, min(o.rss_max_seconds, left))
        run = measure_rss(ctx, cap)
        figure.value = run.peak_mib
        figure.runs = [run.peak_mib]
        figure.note = (
            f"{run.refreshes:,} refreshes in {run.seconds:.0f} s over {o.workers} workers"
            f" (each served about 1/{o.workers}); RSS {run.start_mib:.0f} MiB at the start"
            f" (after the other workloads), {'flat' if run.flat else 'GROWING'} over the"
            f" last half ({run.growth_mib:+.1f} MiB)"
        )
        if run.capped:
            figure.note += f"; stopped by the {cap:.0f} s time cap before {o.rss_refreshes:,}"
            figure.incomplete = (
                f"{run.refreshes:,} of the {o.rss_refreshes:,} refreshes within the time budget"
            )
        if run.peak_since_start:
            figure.note += "; VmHWM could not be reset: the peak counts from the worker's start"
        figure.judge(extra_condition=run.flat)
        extra["rss_series"] = run.series
        extra["rss"] = {k: v for k, v in vars(run).items() if k != "series"}
        log(f"  {figure.note}; peak {run.peak_mib:.0f} MiB")

    def scaling() -> None:
        figure = figures["refresh_scaling"]
        measured = measure_scaling(ctx)
        small, large = median(measured.ceilings), median(measured.values)
        judge_paired(
            figure,
            measured,
            "ms",
            f"p50 with {o.small:,} sessions {small:.2f} ms {_runs(measured.ceilings)},"
            f" with {o.large:,} {large:.2f} ms {_runs(measured.values)}, each large run"
            " right after a small one",
        )
        log(f"  {figure.note}")

    step("warm-up", lambda: warm_up(ctx))
    step("hello", hello)
    step("login", login)
    step("refresh", lambda: throughput("refresh", lambda: measure_refresh(ctx)))
    step("me", lambda: throughput("me", lambda: measure_me(ctx)))
    step("introspect", lambda: throughput("introspect", lambda: measure_introspect(ctx)))
    step("healthz_p99", healthz)
    step("refresh_scaling", scaling)
    step("rss", rss)
    extra["failures"] = failures
    return extra


def cpu_note(
    ctx: Context, key: str, measured: Paired
) -> tuple[str, dict[str, float], float | None]:
    """What a throughput figure's runs cost in CPU per request (medians), and
    for refresh the most that PostgreSQL's share alone lets refresh/hello reach
    (bench/README.md)."""
    runs = len(measured.values)
    own = ctx.cpu_per_request.get(key, [])[-runs:]
    if len(own) != runs:
        return "", {}, None
    cpu = {"workers": median([r.workers_ms for r in own])}
    postgres = [r.postgres_ms for r in own if r.postgres_ms is not None]
    if len(postgres) == runs:
        cpu["postgres"] = median(postgres)
    if key == "login":
        # The hash ceiling keeps each of its threads busy: a verify costs threads / rate.
        threads = ctx.hash_threads()
        cpu["hash_ceiling_verify"] = median([1000 * threads / c for c in measured.ceilings])
    else:
        # The paired hello runs are the latest ones (`alternate`).
        hellos = ctx.cpu_per_request.get("hello", [])[-runs:]
        cpu["hello_workers"] = median([r.workers_ms for r in hellos])
    note = "CPU per request: " + ", ".join(f"{CPU_NAMES[k]} {v:.3g} ms" for k, v in cpu.items())
    bound = None
    if key == "refresh" and "postgres" in cpu:
        cores = len(os.sched_getaffinity(0))
        bound = median(
            [1000 * cores / (p * h) for p, h in zip(postgres, measured.ceilings, strict=True)]
        )
        note += (
            f"; at this run's CPU per refresh, PostgreSQL alone would let refresh/hello"
            f" reach {bound:.2f} at most on {cores} cores, however little the rest cost"
        )
    return note, cpu, bound


CPU_NAMES = {
    "workers": "Latchkey's workers",
    "postgres": "PostgreSQL",
    "hello_workers": "hello's workers",
    "hash_ceiling_verify": "a verify in the hash ceiling",
}


def judge_paired(figure: Figure, measured: Paired, unit: str, how: str) -> None:
    """The figure's value and ceiling are the medians of the runs, its ratio the
    median of the pairs' ratios."""
    figure.runs = measured.values
    figure.set_ratio(median(measured.values), median(measured.ceilings), unit)
    ratios = measured.ratios()
    figure.ratio = median(ratios)
    figure.note = (
        f"{how}: ratios {', '.join(f'{r:.2f}' for r in ratios)}; the ratio is their median"
    )
    figure.judge()


def _runs(values: Sequence[float]) -> str:
    return "(runs " + ", ".join(f"{v:,.3g}" if v < 100 else f"{v:,.0f}" for v in values) + ")"


def _count(n: int) -> str:
    return (
        f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)
    )


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description="Latchkey's benchmark (make bench).")
    add = parser.add_argument
    add("--workers", type=int, default=2, help="uvicorn workers of latchkey and of hello")
    add("--runs", type=int, default=3, help="runs per figure; the median is reported")
    add("--seconds", type=float, default=5, help="length of one run")
    add("--connections", type=int, default=32, help="concurrent connections of the load")
    add("--users", type=int, default=1000, help="pre-created users that `login` picks from")
    add("--small", type=int, default=1000, help="sessions in the database for the small p50")
    add("--large", type=int, default=1_000_000, help="sessions for the large p50")
    add("--rss-refreshes", type=int, default=100_000, help="refreshes of the RSS run")
    add("--rss-max-seconds", type=float, default=300, help="time cap of the RSS run")
    add(
        "--budget-seconds",
        type=float,
        default=580,
        help="the whole run's time budget: the RSS run, last, is cut to fit it",
    )
    add(
        "--started-at",
        type=float,
        default=None,
        help="when `make bench` began (seconds since the epoch): the budget counts from it",
    )
    add("--out", type=Path, default=RESULTS, help="where latest.json and latest.png go")
    add("--quick", action="store_true", help="a smoke test: 1 short run each, small tables")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.seconds, args.large, args.rss_refreshes = 1, 2, 20_000, 5_000
    return Options(
        workers=args.workers,
        runs=args.runs,
        seconds=args.seconds,
        connections=args.connections,
        users=args.users,
        small=args.small,
        large=args.large,
        rss_refreshes=args.rss_refreshes,
        rss_max_seconds=args.rss_max_seconds,
        budget_seconds=args.budget_seconds,
        out=args.out,
        started_at=args.started_at,
    )


def _loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def set_up_seconds(started_at: float | None) -> float:
    """How long `make bench` spent before this run (installing, finding wrk)."""
    if started_at is None:
        return 0.0
    # Capped: a stale or mistyped value must not leave the RSS run no time at all.
    return min(max(time.time() - started_at, 0.0), MAX_SET_UP_SECONDS)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds through the clean-up


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic() - set_up_seconds(options.started_at)
    load_before = _loadavg()
    if load_before > 0.5:
        log(f"warning: load average {load_before:.2f} before the start: the figures may be noisy")
    figures = {f.key: f for f in the_figures(options)}
    when = datetime.now(UTC)
    with environment(options, started) as ctx:
        extra = measure_all(ctx, figures)
        pinning, load = ctx.pinning, ctx.load_generator
        postgres = ctx.db.server_version()
    elapsed = time.monotonic() - started

    rows = list(figures.values())
    about = machine() | {
        "postgresql": postgres,
        "load_average_before": load_before,
        "load_average_after": _loadavg(),
    }
    title = (
        f"Latchkey make bench, {when:%Y-%m-%d %H:%M} UTC, {about['cpus']} CPUs "
        f"({about['cpu_model']}), {options.workers} workers, medians of {options.runs} x "
        f"{options.seconds:g} s"
    )
    print()
    print(title)
    print(f"pinning: {pinning}")
    print(
        "load generator CPU (cores, worst run): "
        + ", ".join(f"{name} {share:.2f}" for name, share in sorted(load.items()))
    )
    print()
    print(report.table(rows))
    print(f"\nfinished in {elapsed:.0f} s")

    options.out.mkdir(parents=True, exist_ok=True)
    report.write_json(
        options.out / "latest.json",
        {
            "date": when.isoformat(timespec="seconds"),
            "machine": about,
            "options": {k: str(v) if isinstance(v, Path) else v for k, v in vars(options).items()},
            "pinning": pinning,
            "load_generator_cpu_cores": load,
            "ceilings": extra["ceilings"],
            "figures": report.figures_json(rows),
            "cpu_ms_per_request": extra["cpu_ms_per_request"],
            "refresh_bound_by_postgres": extra.get("refresh_bound_by_postgres"),
            "rss": extra.get("rss"),
            "rss_samples_refreshes_mib": report.downsampled(extra["rss_series"]),
            "failures": extra["failures"],
            "elapsed_seconds": round(elapsed, 1),
        },
    )
    report.chart(options.out / "latest.png", rows, extra["rss_series"], title)
    print(f"wrote {options.out / 'latest.json'} and {options.out / 'latest.png'}")
    return 1 if extra["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
