"""End-to-end latency of the live page: a reading enters the hub -> the HR tile shows it in headless
Chromium. Then the same with 8 sessions open in 8 tabs of one browser. Each is measured twice in the same run:
poll only (the anchor: the page's 1-s tick, the push channel off) and with the push channel (layouts.push).

    python benchmarks/bench_live_latency.py [--samples 30] [--windows] [--settle S]

Prints p50/p95 latency (ms) for one tab and for 8 tabs (or, with --windows, 8 windows: Chromium throttles
timers in background tabs), and the server process CPU while they are open, for each way. Each sample is
injected 1.6 s after the last, just after the pages are read; with --settle the next waits S to 2S seconds more,
so that readings land at any moment of the pages' 1-s poll, as a device's do.
"""

from __future__ import annotations

import argparse
import logging
import random
import resource
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from devices.reading import reading
from layouts.app import create_app
from monitor.cli.serving import PageServer
from monitor.session.start import start_session
from monitor.session.store import Store

OBSERVER = """
window.kapmonSeen = [];
const root = document.getElementById('tile-hr');
new MutationObserver(() => {
  const v = document.getElementById('value-hr');
  if (v) window.kapmonSeen.push([Date.now(), v.innerText]);
}).observe(root, {subtree: true, childList: true, characterData: true});
"""


def browser() -> webdriver.Chrome:
    options = Options()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,1000", "--disable-background-timer-throttling",
                 "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows"):
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or "chromium"
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


class SteadyOximeter:
    """SpO2 97 once a second: the session stays live while HR changes only when injected."""

    uri = "bench://oximeter"

    async def stream(self, clock):
        while True:
            await clock.sleep_until(clock.now() + 1)
            yield reading(clock.now(), "spo2", 97, "ox")


def quiet_session(store: Store, name: str):
    return start_session(store, [SteadyOximeter()], patient=name, route="iv", weight_kg=70.0)


def serve(app) -> tuple[str, object]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = PageServer("127.0.0.1", 0, app.server)  # as kapmon serves the pages
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def measure(driver, tabs: list[tuple[str, object]], samples: int, settle_s: float = 0.0) -> list[float]:
    """Inject a new HR into every tab's session, then read when each tab showed it; then wait ``settle_s`` to
    twice that before the next sample."""
    latencies = []
    for i in range(samples):
        value = 100 + i % 60
        injected = {}
        for handle, hub in tabs:
            injected[handle] = time.time()
            hub.add_readings([reading(hub.now(), "hr", value, "bench")])
        time.sleep(1.6)  # one tick interval plus slack
        for handle, _hub in tabs:
            driver.switch_to.window(handle)
            seen = driver.execute_script("return window.kapmonSeen;")
            shown = [t for t, text in seen if text.strip() == str(value) and t / 1000 >= injected[handle]]
            if shown:
                latencies.append(shown[0] - injected[handle] * 1000)
            driver.execute_script("window.kapmonSeen = [];")
        time.sleep(settle_s * (1 + random.random()))
    return latencies


def open_tabs(driver, url: str, hubs: list, kind: str | None = None) -> list[tuple[str, object]]:
    """One page per hub: the first in the browser's current window, unless ``kind`` ("tab" or "window")
    says each goes in a new one."""
    tabs = []
    for n, hub in enumerate(hubs):
        if n or kind:
            driver.switch_to.new_window(kind or "tab")
        driver.get(f"{url}/live/{hub.session.id}")
        deadline = time.time() + 15
        while not driver.execute_script("return !!document.getElementById('tile-hr')"):
            assert time.time() < deadline, "page did not load"
            time.sleep(0.1)
        driver.execute_script(OBSERVER)
        tabs.append((driver.current_window_handle, hub))
    return tabs


def summary(name: str, latencies: list[float], expected: int) -> None:
    if len(latencies) < 2:
        print(f"{name}: {len(latencies)}/{expected} updates seen")
        return
    qs = statistics.quantiles(latencies, n=20)
    print(f"{name}: {len(latencies)}/{expected} updates seen, latency p50 {statistics.median(latencies):.0f} ms,"
          f" p95 {qs[18]:.0f} ms")


def run(store: Store, hubs: list, push: bool, samples: int, kind: str, settle_s: float = 0.0) -> None:
    """Open one session's page, measure; open the other seven, measure; print latencies and server CPU."""
    way = "push" if push else "poll only (anchor)"
    live = {h.session.id: h for h in hubs}
    url, server = serve(create_app(store, live, push=push))
    driver = browser()
    try:
        tabs = open_tabs(driver, url, hubs[:1])
        summary(f"{way:>18}, 1 session, 1 tab", measure(driver, tabs, samples, settle_s), samples)
        tabs += open_tabs(driver, url, hubs[1:], kind)
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.time()
        rounds = max(6, samples // 4)
        latencies = measure(driver, tabs, rounds, settle_s)
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.time() - t0
        summary(f"{way:>18}, 8 sessions, 8 {kind}s", latencies, 8 * rounds)
        cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
        print(f"{way:>18}, server process CPU with 8 {kind}s open: {100 * cpu / wall:.0f} % of one core")
    finally:
        driver.quit()
        server.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--windows", action="store_true", help="open 8 windows instead of 8 tabs")
    ap.add_argument("--settle", type=float, default=0.0, help="seconds (to 2x) between reading the pages and the next sample")
    args = ap.parse_args()
    kind = "window" if args.windows else "tab"
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        hubs = [quiet_session(store, f"BENCH-{n}") for n in range(8)]
        try:
            for push in (False, True):
                run(store, hubs, push, args.samples, kind, args.settle)
        finally:
            for hub in hubs:
                hub.stop()


if __name__ == "__main__":
    main()
