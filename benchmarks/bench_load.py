"""Load: 8 sessions streaming into one store at once while 8 viewers tick the live page, on this machine.

    python benchmarks/bench_load.py [--seconds 20] [--viewers 8] [--sessions 8] [--no-auth]

A server process runs what ``kapmon`` runs (hubs + store + the Dash app on the threaded Flask server,
loopback only, sign-in on unless --no-auth): 8 simulated sessions with 75 Hz pleth at 1x to 10x. This
process plays 8 browsers: each posts the live page's tick callback once a second with its own cursor,
as the page does, and times the response. Phase 1 puts all viewers on one session, phase 2 one viewer
per session. Prints tick latency p50/p95/max, bytes per tick, how far each hub's store lags its clock, and the server's
resident memory before and after each phase.
"""

from __future__ import annotations

import argparse
import base64
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "load-bench-password"
SPEEDS = (1, 1, 2, 2, 5, 5, 10, 10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the server process


def serve(db: Path, port: int, sessions: int, users: Path | None) -> None:
    import logging

    from werkzeug.serving import make_server

    from devices.registry import open_source
    from layouts.app import create_app
    from layouts.security import secure
    from monitor.session.start import start_session
    from monitor.session.store import Store
    from monitor.auth.users import Users

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
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"sessions": list(hubs)}), flush=True)
    for line in sys.stdin:  # "lag" asks how far each store is behind its hub's clock; EOF stops
        if line.strip() == "lag":
            lags = {}
            for sid, hub in hubs.items():
                last = store.latest(sid, "pleth")
                lags[sid] = {"speed": hub.clock_speed, "lag_s": round(hub.now() - last.t, 3) if last else None,
                             "readings": store.count_readings(sid)}
            print(json.dumps(lags), flush=True)
    server.shutdown()
    for hub in hubs.values():
        hub.stop()


# ---------------------------------------------------------------- the viewers


def tick_request(app_callbacks: dict) -> tuple[str, list]:
    """The tick callback's output key and output specs, as the page's renderer sends them."""
    for key, spec in app_callbacks.items():
        if any(i["id"] == "tick" for i in spec["inputs"]):
            outputs = [{"id": o.split(".")[0], "property": o.split(".")[1]}
                       for o in key.strip(".").split("...")]
            return key, outputs
    raise SystemExit("no tick callback")


class Viewer(threading.Thread):
    def __init__(self, port: int, session: str, key: str, outputs: list, headers: dict, until: float) -> None:
        super().__init__(daemon=True)
        self.port, self.key, self.outputs, self.headers, self.until = port, key, outputs, headers, until
        self.cursor = {"session": session, "id": 0, "pleth": 0, "event": 0}
        self.latencies: list[float] = []
        self.sizes: list[int] = []
        self.errors = 0

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        n = 0
        next_at = time.monotonic()
        while time.monotonic() < self.until:
            n += 1
            body = json.dumps({"output": self.key, "outputs": self.outputs,
                               "inputs": [{"id": "tick", "property": "n_intervals", "value": n}],
                               "state": [{"id": "cursor", "property": "data", "value": self.cursor}],
                               "changedPropIds": ["tick.n_intervals"]})
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/_dash-update-component", body, {**self.headers, "Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
            except OSError:
                self.errors += 1
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                continue
            elapsed = time.perf_counter() - t0
            if resp.status != 200:
                self.errors += 1
            else:
                self.latencies.append(elapsed)
                self.sizes.append(len(data))
                self.cursor = json.loads(data)["response"]["cursor"]["data"]
            next_at += 1.0
            time.sleep(max(0.0, next_at - time.monotonic()))


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def phase(name: str, port: int, sessions: list[str], key: str, outputs: list, headers: dict, seconds: float,
          server: subprocess.Popen) -> None:
    before = rss_mb(server.pid)
    until = time.monotonic() + seconds
    viewers = [Viewer(port, sessions[i % len(sessions)], key, outputs, headers, until) for i in range(VIEWERS)]
    for v in viewers:
        v.start()
        time.sleep(1.0 / len(viewers))  # browsers do not tick in lockstep
    for v in viewers:
        v.join()
    lat = [x * 1000 for v in viewers for x in v.latencies[1:]]  # the first tick sends the whole window
    sizes = [s for v in viewers for s in v.sizes[1:]]
    server.stdin.write("lag\n")
    server.stdin.flush()
    lags = json.loads(server.stdout.readline())
    print(f"\n{name}: {len(viewers)} viewers, {len(lat)} ticks in {seconds:g} s, errors {sum(v.errors for v in viewers)}")
    print(f"  tick latency ms: p50 {statistics.median(lat):.0f}  p95 {pct(lat, 95):.0f}  max {max(lat):.0f}")
    print(f"  bytes per tick: median {statistics.median(sizes):,.0f}")
    print(f"  server resident memory: {before:.0f} MB before the phase, {rss_mb(server.pid):.0f} MB after it")
    print("  newest stored pleth behind each hub's clock, in real seconds (speed: lag):  "
          + "  ".join(f"{v['speed']:g}x: {v['lag_s'] / v['speed']:.2f}" for v in lags.values()))


VIEWERS = 8


def main() -> None:
    global VIEWERS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    ap.add_argument("--viewers", type=int, default=8)
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--no-auth", action="store_true", help="serve without sign-in")
    ap.add_argument("--serve", nargs=2, metavar=("DB", "PORT"), help=argparse.SUPPRESS)
    ap.add_argument("--users", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]), args.sessions, args.users)
        return
    VIEWERS = args.viewers
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        cmd = [sys.executable, __file__, "--serve", str(Path(tmp) / "load.db"), str(port), "--sessions", str(args.sessions)]
        headers: dict = {}
        if not args.no_auth:
            from monitor.auth.users import add_user

            add_user(Path(tmp) / "users", "viewer", PASSWORD)
            cmd += ["--users", str(Path(tmp) / "users")]
            headers["Authorization"] = "Basic " + base64.b64encode(f"viewer:{PASSWORD}".encode()).decode()
        server = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            sessions = json.loads(server.stdout.readline())["sessions"]
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/_dash-dependencies", headers=headers)
            deps = json.loads(conn.getresponse().read())
            key, outputs = tick_request({d["output"]: d for d in deps})
            print(f"{os.cpu_count()} CPUs; {len(sessions)} sessions streaming sim typical_iv with 75 Hz pleth at "
                  f"{', '.join(f'{s}x' for s in SPEEDS[:len(sessions)])}; sign-in {'off' if args.no_auth else 'on'}")
            phase("phase 1, all viewers on one session", port, sessions[:1], key, outputs, headers, args.seconds, server)
            phase("phase 2, one viewer per session", port, sessions, key, outputs, headers, args.seconds, server)
        finally:
            server.stdin.close()
            server.wait(15)


if __name__ == "__main__":
    main()
