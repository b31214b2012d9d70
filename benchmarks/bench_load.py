"""Load and memory per viewer: 8 sessions streaming into one store while 8 viewers hold the live page open.

    python benchmarks/bench_load.py [--seconds 40] [--warm 20] [--viewers 8] [--sessions 8] [--rounds 8]
                                    [--no-push] [--no-auth] [--trace] [--unbounded-arenas] [--no-release]

A server process runs what ``kapmon`` runs (hubs + store + the Dash app on the threaded Flask server,
loopback only, sign-in on unless --no-auth): 8 simulated sessions with 75 Hz pleth at 1x to 10x. This
process plays the browsers: each viewer holds the page's push WebSocket (``/push/<session>``) open and posts
the live page's tick callback with its own cursor as the page does: at once when the push says there is news
(one tick at a time), else on the 1-s poll (1.25 s after a pushed tick); with --no-push it only polls.

After a warm-up with no viewer the run has four phases of --seconds each: recording only, all viewers on one
session, one viewer per session, recording only again (the viewers gone). Through each phase the server's
resident memory, threads and open files are sampled every eighth of the phase, so a reader sees whether
memory levels off. Sessions recording at 10x keep growing on their own (more history), so the growth a
viewer phase owes to its viewers is its growth minus the recording-only growth over the same time (the
mean slope of the two recording-only phases), printed in all and per viewer. Also printed: tick latency
p50/p95/max, bytes per tick and how far each hub's store lags its clock. With --trace the server runs
tracemalloc and the run also prints its traced Python heap at each sample and the allocation sites that grew
most between the second sample and the end of each phase (the heap's own growth, apart from SQLite's and
the C allocator's). Tracing slows the server: its recorders may then report the store busy for a while.

Then --rounds rounds of viewers (one a session) connecting, staying --round-seconds and leaving, with the server's
memory after each: whether viewers coming and going leave it larger. The server bounds the C allocator's pools as
kapmon does (``monitor.allocator.bound_malloc_arenas``) and serves the pages as kapmon does (``PageServer``: what a
connection's thread freed goes back to the system a few seconds after it ends); --unbounded-arenas shows it without
the bound, --no-release without giving freed memory back.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from simple_websocket import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "load-bench-password"
SPEEDS = (1, 1, 2, 2, 5, 5, 10, 10)
POLL_S = 1.0  # the live page's tick interval
PUSHED_POLL_S = 1.25  # the poll's next tick after a pushed one (kapmon.js PUSHED_POLL_SLACK_MS)
SAMPLES = 8  # memory samples per phase, besides the one at its start
TOP_SITES = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the server process


def serve(db: Path, port: int, sessions: int, users: Path | None, trace: bool, arenas: bool, release: bool) -> None:
    import logging
    import tracemalloc

    from monitor.allocator import Releaser, bound_malloc_arenas

    if arenas:
        bound_malloc_arenas()  # as kapmon does, before anything starts a thread (numpy's math library starts some)
    if trace:
        tracemalloc.start()
    from devices.registry import open_source
    from layouts.app import create_app
    from layouts.security import secure
    from monitor.auth.users import Users
    from monitor.cli.serving import PageServer
    from monitor.session.start import start_session
    from monitor.session.store import Store

    store = Store(db)
    hubs = {}
    for i in range(sessions):
        speed = SPEEDS[i % len(SPEEDS)]
        source = open_source(f"sim://typical_iv?seed={i}&pleth=1")
        hub = start_session(store, [source], patient=f"LOAD-{i}", route="iv", weight_kg=70.0, speed=speed,
                            kind="demo", metadata=source.metadata, scripted=True)
        hubs[hub.session.id] = hub
    app = create_app(store, hubs)
    secure(app, "127.0.0.1", port, None if users is None else Users.load(users), store)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = PageServer("127.0.0.1", port, app.server, releaser=None if release else Releaser(release=lambda: None))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"sessions": list(hubs)}), flush=True)
    marked = None
    for line in sys.stdin:  # one command a line (see below); EOF stops
        command = line.strip()
        if command == "lag":  # how far each store is behind its hub's clock
            answer: object = {sid: {"speed": hub.clock_speed, "lag_s": lag(store, sid, hub.now())} for sid, hub in hubs.items()}
        elif command == "heap":  # the traced Python heap, MB
            answer = tracemalloc.get_traced_memory()[0] / 1e6 if trace else None
        elif command == "mark":  # a snapshot of the traced heap to compare the next "grown" with
            marked = tracemalloc.take_snapshot() if trace else None
            answer = None
        elif command == "grown":  # the sites that grew most since "mark"
            answer = grown(marked, tracemalloc.take_snapshot()) if trace and marked else []
        else:
            answer = f"unknown command {command!r}"
        print(json.dumps(answer), flush=True)
    server.shutdown()
    for hub in hubs.values():
        hub.stop()


def lag(store, session_id: str, now: float) -> float | None:
    last = store.latest(session_id, "pleth")
    return round(now - last.t, 3) if last else None


def grown(before, after) -> list[tuple[str, float, int]]:
    """The ``TOP_SITES`` allocation sites whose traced size grew most from ``before`` to ``after``:
    (file:line, KB grown, blocks grown)."""
    diffs = sorted(after.compare_to(before, "lineno"), key=lambda d: d.size_diff, reverse=True)[:TOP_SITES]
    return [(f"{d.traceback[0].filename.removeprefix(str(ROOT) + '/')}:{d.traceback[0].lineno}", d.size_diff / 1e3,
             d.count_diff) for d in diffs]


class ServerProcess:
    """The server subprocess: its commands over stdin and its memory, threads and open files from /proc."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self._lock = threading.Lock()

    def ask(self, command: str) -> object:
        with self._lock:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
            return json.loads(self.proc.stdout.readline())

    def sample(self) -> tuple[float, int, int]:
        """(resident MB, threads, open file descriptors) of the server now."""
        pid = self.proc.pid
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
        return int(status["VmRSS"].split()[0]) / 1024, int(status["Threads"]), len(os.listdir(f"/proc/{pid}/fd"))


# ---------------------------------------------------------------- the viewers


def tick_request(app_callbacks: dict) -> tuple[str, list]:
    """The tick callback's output key and output specs, as the page's renderer sends them."""
    for key, spec in app_callbacks.items():
        if any(i["id"] == "tick" for i in spec["inputs"]):
            outputs = [{"id": o.split(".")[0], "property": o.split(".")[1]}
                       for o in key.strip(".").split("...")]
            return key, outputs
    raise SystemExit("no tick callback")


@dataclass
class Page:
    """What every viewer sends: the server's port, the tick callback's key and outputs, the request headers."""

    port: int
    key: str
    outputs: list
    headers: dict
    push: bool


class PushClient(Client):
    """simple-websocket's client, with the port in its ``Host`` header as a browser sends it (the server's
    Host check refuses a Host without the port it listens on)."""

    def handshake(self) -> None:
        self.host = f"{self.host}:{self.port}"
        super().handshake()


class Viewer(threading.Thread):
    """One open live page: its push WebSocket (unless ``page.push`` is off) and its ticks until ``until``."""

    def __init__(self, page: Page, session: str, until: float) -> None:
        super().__init__(daemon=True)
        self.page, self.session, self.until = page, session, until
        self.cursor = {"session": session, "id": 0, "pleth": 0, "event": 0}
        self.latencies: list[float] = []
        self.sizes: list[int] = []
        self.errors = 0
        self.pushed = 0  # ticks woken by the push channel
        self.news = threading.Event()

    def run(self) -> None:
        ws = self._listen() if self.page.push else None
        conn = http.client.HTTPConnection("127.0.0.1", self.page.port, timeout=10)
        n = 0
        wait = POLL_S
        while time.monotonic() < self.until:
            n += 1
            self._tick(conn, n)
            woken = self.news.wait(max(0.0, min(wait, self.until - time.monotonic())))
            self.news.clear()
            self.pushed += woken
            wait = PUSHED_POLL_S if woken else POLL_S
        conn.close()
        if ws is not None:
            ws.close()

    def _listen(self):
        """Open the page's push channel and set ``news`` on each message it brings, or count an error."""
        from simple_websocket import ConnectionClosed, ConnectionError

        headers = {**self.page.headers, "Origin": f"http://127.0.0.1:{self.page.port}"}
        try:
            ws = PushClient.connect(f"ws://127.0.0.1:{self.page.port}/push/{self.session}", headers=headers)
        except (ConnectionError, OSError):
            self.errors += 1
            return None

        def read() -> None:
            with contextlib.suppress(ConnectionClosed):  # the server closed the channel: the page polls on
                while ws.receive() is not None:
                    self.news.set()

        threading.Thread(target=read, daemon=True).start()
        return ws

    def _tick(self, conn: http.client.HTTPConnection, n: int) -> None:
        body = json.dumps({"output": self.page.key, "outputs": self.page.outputs,
                           "inputs": [{"id": "tick", "property": "n_intervals", "value": n}],
                           "state": [{"id": "cursor", "property": "data", "value": self.cursor}],
                           "changedPropIds": ["tick.n_intervals"]})
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/_dash-update-component", body, {**self.page.headers, "Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        except OSError:
            self.errors += 1
            conn.close()  # http.client reconnects on the next request
            return
        if resp.status != 200:
            self.errors += 1
            return
        self.latencies.append(time.perf_counter() - t0)
        self.sizes.append(len(data))
        self.cursor = json.loads(data)["response"]["cursor"]["data"]


# ---------------------------------------------------------------- the phases


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


@dataclass
class Phase:
    """One phase's samples: seconds since its start, resident MB, threads, open files, traced heap MB."""

    name: str
    viewers: int
    t: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    threads: list[int] = field(default_factory=list)
    files: list[int] = field(default_factory=list)
    heap: list[float | None] = field(default_factory=list)

    @property
    def growth(self) -> float:
        return self.rss[-1] - self.rss[0]

    @property
    def slope(self) -> float:
        """Resident memory's least-squares slope through the phase, MB per second."""
        return statistics.linear_regression(self.t, self.rss).slope

    def halves(self) -> tuple[float, float]:
        """Growth in the first and in the second half of the phase, MB."""
        mid = len(self.rss) // 2
        return self.rss[mid] - self.rss[0], self.rss[-1] - self.rss[mid]


def run_phase(name: str, server: ServerProcess, page: Page, sessions: list[str], viewers: int, seconds: float,
              trace: bool) -> Phase:
    """Hold ``viewers`` pages open on ``sessions`` (in turn) for ``seconds`` while sampling the server."""
    start = time.monotonic()
    result = Phase(name, viewers)
    every = seconds / SAMPLES
    pages = [Viewer(page, sessions[i % len(sessions)], start + seconds) for i in range(viewers)]
    for i in range(SAMPLES + 1):
        time.sleep(max(0.0, start + i * every - time.monotonic()))
        result.t.append(time.monotonic() - start)
        rss, threads, files = server.sample()
        result.rss.append(rss)
        result.threads.append(threads)
        result.files.append(files)
        result.heap.append(server.ask("heap"))
        if i == 0:  # the server before any viewer of this phase comes
            for v in pages:
                v.start()
                time.sleep(1.0 / viewers)  # browsers do not tick in lockstep
        if trace and i == 1:
            server.ask("mark")
    for v in pages:
        v.join()
    print(f"\n{name}: {viewers} viewers, {seconds:g} s")
    print("  s          " + " ".join(f"{t:6.0f}" for t in result.t))
    print("  RSS MB     " + " ".join(f"{x:6.1f}" for x in result.rss))
    if trace:
        print("  heap MB    " + " ".join(f"{x:6.1f}" for x in result.heap))
    print("  threads    " + " ".join(f"{x:6d}" for x in result.threads))
    print("  open files " + " ".join(f"{x:6d}" for x in result.files))
    first, second = result.halves()
    print(f"  RSS growth {result.growth:+.1f} MB ({first:+.1f} in the first half, {second:+.1f} in the second),"
          f" slope {result.slope * 60:+.2f} MB/min")
    if pages:
        report_ticks(pages)
        lags = server.ask("lag")
        print("  newest stored pleth behind each hub's clock, in real seconds (speed: lag):  "
              + "  ".join(f"{v['speed']:g}x: {v['lag_s'] / v['speed']:.2f}" for v in lags.values()))
    if trace:
        print(f"  traced Python heap: sites that grew most from {result.t[1]:.0f} s to the end (KB, blocks):")
        for site, kb, blocks in server.ask("grown"):
            print(f"    {kb:+9.1f} KB {blocks:+7d}  {site}")
    return result


def report_ticks(pages: list[Viewer]) -> None:
    lat = [x * 1000 for v in pages for x in v.latencies[1:]]  # the first tick sends the whole window
    sizes = [s for v in pages for s in v.sizes[1:]]
    ticks = sum(len(v.latencies) for v in pages)
    print(f"  {ticks} ticks ({sum(v.pushed for v in pages)} woken by the push), errors {sum(v.errors for v in pages)}")
    if lat:
        print(f"  tick latency ms: p50 {statistics.median(lat):.0f}  p95 {pct(lat, 95):.0f}  max {max(lat):.0f};"
              f"  bytes per tick: median {statistics.median(sizes):,.0f}")


def attribute(phases: list[Phase]) -> float:
    """Print each viewer phase's growth less the recording-only growth over the same time; returns the
    recording-only growth, MB per second."""
    recording = [p for p in phases if not p.viewers]
    slope = statistics.fmean(p.slope for p in recording)
    print(f"\nrecording only: {', '.join(f'{p.slope * 60:+.2f}' for p in recording)} MB/min; mean {slope * 60:+.2f} MB/min")
    for p in phases:
        if p.viewers:
            owed = p.growth - slope * (p.t[-1] - p.t[0])
            print(f"{p.name}: grew {p.growth:+.1f} MB; owed to its {p.viewers} viewers {owed:+.1f} MB"
                  f" = {owed / p.viewers:+.2f} MB per viewer over {p.t[-1]:.0f} s")
    return slope


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=40.0, help="length of each phase")
    ap.add_argument("--warm", type=float, default=20.0, help="seconds of recording before the first phase")
    ap.add_argument("--viewers", type=int, default=8)
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--no-push", action="store_true", help="viewers only poll, with no push WebSocket")
    ap.add_argument("--no-auth", action="store_true", help="serve without sign-in")
    ap.add_argument("--trace", action="store_true", help="trace the server's Python heap (tracemalloc; slower)")
    ap.add_argument("--rounds", type=int, default=8, help="then rounds of viewers connecting and leaving")
    ap.add_argument("--round-seconds", type=float, default=10.0, help="how long the viewers of a round stay")
    ap.add_argument("--unbounded-arenas", action="store_true",
                    help="leave the C allocator's pools unbounded (kapmon bounds them: monitor.allocator.MALLOC_ARENAS)")
    ap.add_argument("--no-release", action="store_true",
                    help="keep what connections freed in the server's heap (kapmon gives it back: monitor.allocator.Releaser)")
    ap.add_argument("--serve", nargs=2, metavar=("DB", "PORT"), help=argparse.SUPPRESS)
    ap.add_argument("--users", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]), args.sessions, args.users, args.trace, not args.unbounded_arenas,
              not args.no_release)
        return
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        cmd = [sys.executable, __file__, "--serve", str(Path(tmp) / "load.db"), str(port), "--sessions", str(args.sessions)]
        cmd += ["--trace"] if args.trace else []
        cmd += ["--unbounded-arenas"] if args.unbounded_arenas else []
        cmd += ["--no-release"] if args.no_release else []
        headers: dict = {}
        if not args.no_auth:
            from monitor.auth.users import add_user

            add_user(Path(tmp) / "users", "viewer", PASSWORD)
            cmd += ["--users", str(Path(tmp) / "users")]
            headers["Authorization"] = "Basic " + base64.b64encode(f"viewer:{PASSWORD}".encode()).decode()
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        server = ServerProcess(proc)
        try:
            sessions = json.loads(proc.stdout.readline())["sessions"]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/_dash-dependencies", headers=headers)
            deps = json.loads(conn.getresponse().read())
            conn.close()
            page = Page(port, *tick_request({d["output"]: d for d in deps}), headers, not args.no_push)
            print(f"{os.cpu_count()} CPUs; {len(sessions)} sessions streaming sim typical_iv with 75 Hz pleth at "
                  f"{', '.join(f'{s}x' for s in SPEEDS[:len(sessions)])}; sign-in {'off' if args.no_auth else 'on'};"
                  f" viewers {'poll only' if args.no_push else 'hold the push WebSocket and poll'}")
            time.sleep(args.warm)
            n, s = args.viewers, args.seconds
            phases = [
                run_phase("phase 1, recording only", server, page, sessions, 0, s, args.trace),
                run_phase("phase 2, all viewers on one session", server, page, sessions[:1], n, s, args.trace),
                run_phase("phase 3, one viewer per session", server, page, sessions, n, s, args.trace),
                run_phase("phase 4, recording only (viewers gone)", server, page, sessions, 0, s, args.trace),
            ]
            slope = attribute(phases)
            reconnecting(server, page, sessions, n, args.rounds, args.round_seconds, slope)
        finally:
            proc.stdin.close()
            proc.wait(15)


def reconnecting(
    server: ServerProcess, page: Page, sessions: list[str], viewers: int, rounds: int, seconds: float, slope: float
) -> None:
    """``rounds`` times, ``viewers`` pages (one a session, in turn) open for ``seconds`` and close: the server's
    memory after each round (once what they freed could go back: ``RELEASE_AFTER_S`` and a second) shows whether
    viewers coming and going leave it larger, beyond the recording's own growth (``slope``, MB a second)."""
    from monitor.allocator import RELEASE_AFTER_S

    after, at = [], []
    for _ in range(rounds):
        pages = [Viewer(page, sessions[i % len(sessions)], time.monotonic() + seconds) for i in range(viewers)]
        for v in pages:
            v.start()
        for v in pages:
            v.join()
        time.sleep(RELEASE_AFTER_S + 1)
        after.append(server.sample()[0])
        at.append(time.monotonic())
    steps = [b - a for a, b in zip(after, after[1:], strict=False)]
    owed = [step - slope * (t1 - t0) for step, t0, t1 in zip(steps, at, at[1:], strict=False)]
    print(f"\nviewers reconnecting: {rounds} rounds of {viewers} viewers for {seconds:g} s each; server RSS MB "
          f"{RELEASE_AFTER_S + 1:g} s after each:")
    print("  " + " ".join(f"{x:.1f}" for x in after))
    if steps:
        half = len(steps) // 2
        print(f"  growth a round: {statistics.mean(steps):+.2f} MB on average, {statistics.mean(steps[half:]):+.2f} MB over "
              f"the last {len(steps) - half} rounds; less the recording's own growth: {statistics.mean(owed):+.2f} and "
              f"{statistics.mean(owed[half:]):+.2f} MB")


if __name__ == "__main__":
    main()
