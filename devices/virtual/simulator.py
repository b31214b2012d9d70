"""The simulator: seeded, deterministic KAP sessions from named scenarios.

``simulate()`` yields the readings and conditions of a whole session as plain data (no clock);
``open_sim()`` wraps it as a live source (``sim://typical_iv?seed=1&pleth=1&nibp=180``) that is
paced by the clock the hub hands in.

What it produces, per simulated device:

- ``sim-nibp``: discrete cuff readings (sbp, dbp, map at the same t) every ``nibp_interval``
  seconds from session start, at every dose start, and at the scenario's extra (manual) times.
- ``sim-ecg``: hr at 1 Hz.
- ``sim-oximeter``: spo2, pr (tracking hr) and pi at 1 Hz; pleth at 75 Hz when asked for, one
  :class:`~devices.reading.Samples` chunk a second (``devices.reading.expand`` gives its readings).
  A probe-off episode gives ``Condition("sensor_off")`` and no-value spo2/pr/pi readings (and no
  pleth samples); a motion episode gives ``Condition("motion")``, noisy pr and pleth and false
  SpO2 dips.

Every random draw comes from ``random.Random`` seeded by scenario, seed and series (no global
random state, no clock), so the same scenario and seed give identical items; ``start`` only shifts
t, ``pleth`` only adds samples, a shorter ``duration`` only truncates.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC

import numpy as np

from devices.errors import URIError
from devices.reading import Condition, Item, Reading, Samples
from devices.source import Clock, session_start
from devices.uri import DeviceURI
from devices.virtual.replay import Horizon
from devices.virtual.scenario import ECG, MOTION, NIBP, OXIMETER, PHYSIOLOGY, PROBE_OFF, Scenario
from devices.virtual.scenarios import SCENARIOS, get_scenario
from devices.vocabulary import NO_VALUE

PLETH_HZ = 75
OXIMETER_VITALS = ("spo2", "pr", "pleth")


def _beat_shape(n: int = 240) -> tuple[float, ...]:
    """One beat of a PPG waveform (0..1): fast systolic upstroke, dicrotic notch, diastolic runoff."""
    raw = []
    for i in range(n):
        x = i / n
        v = 0.0
        for shift in (-1.0, 0.0, 1.0):  # wrap so the beat joins the next one smoothly
            y = x + shift
            v += math.exp(-(((y - 0.20) / 0.075) ** 2)) + 0.42 * math.exp(-(((y - 0.47) / 0.10) ** 2))
        raw.append(v)
    lo, hi = min(raw), max(raw)
    return tuple((v - lo) / (hi - lo) for v in raw)


_BEAT = _beat_shape()
_BEAT_N = len(_BEAT)


def expected(scenario: str | Scenario, offset: float) -> dict[str, float]:
    """The noise-free model values (sbp, dbp, hr, spo2, pi) at ``offset`` seconds from session start."""
    sc = get_scenario(scenario)
    r = sc.response(offset)
    sbp = sc.baseline_sbp + r * sc.sbp_rise
    dbp = sc.baseline_dbp + r * sc.dbp_rise
    hr = sc.baseline_hr + r * sc.hr_rise
    spo2 = sc.baseline_spo2
    pi = sc.baseline_pi
    for ep in sc.episodes:
        if ep.kind != PHYSIOLOGY:
            continue
        e = ep.envelope(offset)
        if e:
            sbp += e * ep.sbp
            dbp += e * ep.dbp
            hr += e * ep.hr
            spo2 += e * ep.spo2
            pi *= 1.0 + e * (ep.pi_factor - 1.0)
    return {"sbp": sbp, "dbp": dbp, "hr": hr, "spo2": spo2, "pi": pi}


def nibp_times(scenario: str | Scenario, duration: float | None = None, interval: float | None = None) -> list[int]:
    """Seconds from session start of every cuff reading: the cadence, dose starts and manual extras."""
    sc = get_scenario(scenario)
    duration = sc.duration_s if duration is None else duration
    interval = sc.nibp_interval_s if interval is None else interval
    if interval <= 0:
        raise ValueError("nibp_interval must be > 0")
    times = {int(round(k * interval)) for k in range(int(duration // interval) + 1)}
    times.update(int(round(d.t)) for d in sc.doses)
    times.update(int(round(t)) for t in sc.extra_nibp)
    return sorted(t for t in times if t < duration)


def _ar1(rng: random.Random, n: int, sd: float, tau: float) -> list[float]:
    """A slowly wandering noise series (AR(1), stationary sd ``sd``, time constant ``tau`` samples)."""
    a = math.exp(-1.0 / tau)
    b = sd * math.sqrt(1.0 - a * a)
    x = rng.gauss(0.0, sd)
    out = []
    gauss = rng.gauss
    for _ in range(n):
        x = a * x + b * gauss(0.0, 1.0)
        out.append(x)
    return out


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def simulate(
    scenario: str | Scenario,
    *,
    seed: int = 0,
    start: float = 0.0,
    duration: float | None = None,
    pleth: bool = False,
    nibp_interval: float | None = None,
    pi: bool = True,
) -> Iterator[Item]:
    """Yield the readings and conditions of a simulated session in non-decreasing t order.

    ``t`` is ``start`` + seconds from session start. ``duration`` defaults to the scenario's;
    ``nibp_interval`` to the scenario's cuff cadence (300 s). ``ValueError`` for an unknown scenario.
    """
    sc = get_scenario(scenario)
    n = int(math.ceil(sc.duration_s if duration is None else duration))
    if n < 0:
        raise ValueError("duration must be >= 0")
    key = f"{sc.name}:{seed}"

    def rng(stream: str) -> random.Random:
        # One generator per series, so options that change one series leave the others alone.
        return random.Random(f"{key}:{stream}")

    # Slow physiological wander and fast measurement noise, per vital, drawn up front.
    hr_drift = _ar1(rng("hr-drift"), n, 2.0, 90.0)
    g = rng("hr-jitter").gauss
    hr_jit = [g(0.0, 0.8) for _ in range(n)]
    g = rng("pr-jitter").gauss
    pr_jit = [g(0.0, 0.7) for _ in range(n)]
    spo2_drift = _ar1(rng("spo2-drift"), n, 0.45, 40.0)
    g = rng("spo2-jitter").gauss
    spo2_jit = [g(0.0, 0.3) for _ in range(n)]
    pi_drift = _ar1(rng("pi-drift"), n, 0.08, 60.0)
    bp_drift = _ar1(rng("bp-drift"), max(n, 1), 3.0, 600.0)
    rng_nibp = rng("nibp")  # drawn per cuff reading, in time order
    rng_ox = rng("motion")  # drawn per second of motion, in time order
    rng_pleth = rng("pleth")

    cuff = set(nibp_times(sc, n, nibp_interval))
    # Artefact episodes by second: which condition starts/ends, which seconds are affected.
    probe_off = [False] * n
    motion = [False] * n
    starts: dict[int, list[Condition]] = {}
    for ep in sc.episodes:
        if ep.kind not in (PROBE_OFF, MOTION):
            continue
        a, b = int(round(ep.t)), int(round(ep.end))
        flags = probe_off if ep.kind == PROBE_OFF else motion
        for s in range(max(a, 0), min(b, n)):
            flags[s] = True
        name = "sensor_off" if ep.kind == PROBE_OFF else "motion"
        if 0 <= a < n:
            starts.setdefault(a, []).append(Condition(start + a, name, OXIMETER, True, OXIMETER_VITALS, ep.text))
        if 0 <= b < n:
            starts.setdefault(b, []).append(Condition(start + b, name, OXIMETER, False, OXIMETER_VITALS))

    phase = 0.0
    motion_dip = 0.0
    for s in range(n):
        t = start + s
        m = expected(sc, s)
        yield from starts.get(s, ())
        if s in cuff:
            drift = bp_drift[s]
            sbp = round(_clip(m["sbp"] + drift + rng_nibp.gauss(0.0, 3.0), 40, 280))
            dbp = round(_clip(m["dbp"] + 0.6 * drift + rng_nibp.gauss(0.0, 2.2), 20, sbp - 15))
            yield Reading(t, "sbp", float(sbp), "mmHg", NIBP)
            yield Reading(t, "dbp", float(dbp), "mmHg", NIBP)
            yield Reading(t, "map", float(round(dbp + (sbp - dbp) / 3.0)), "mmHg", NIBP)
        hr_true = m["hr"] + hr_drift[s]
        yield Reading(t, "hr", float(round(_clip(hr_true + hr_jit[s], 25, 220))), "/min", ECG)
        pulse = _clip(hr_true + pr_jit[s], 25, 220)
        if probe_off[s]:
            yield Reading(t, "spo2", None, "%", OXIMETER, NO_VALUE)
            yield Reading(t, "pr", None, "/min", OXIMETER, NO_VALUE)
            if pi:
                yield Reading(t, "pi", None, "%", OXIMETER, NO_VALUE)
        else:
            spo2 = m["spo2"] + spo2_drift[s] + spo2_jit[s]
            pr = pulse
            if motion[s]:
                # Motion: the oximeter mistakes movement for pulse and reads false dips.
                motion_dip = _clip(motion_dip + rng_ox.gauss(-0.6, 1.2), -6.0, 0.0)
                spo2 += motion_dip
                pr += rng_ox.gauss(0.0, 9.0)
            else:
                motion_dip = 0.0
            yield Reading(t, "spo2", float(round(_clip(spo2, 50, 100))), "%", OXIMETER)
            yield Reading(t, "pr", float(round(_clip(pr, 25, 250))), "/min", OXIMETER)
            if pi:
                yield Reading(t, "pi", round(_clip(m["pi"] * math.exp(pi_drift[s]), 0.1, 20.0), 2), "%", OXIMETER)
        if pleth:
            step = pulse / 60.0 / PLETH_HZ * _BEAT_N
            if probe_off[s]:
                phase = (phase + step * PLETH_HZ) % _BEAT_N
                continue
            amp = _clip(m["pi"] * math.exp(pi_drift[s]) * 17.0, 8.0, 78.0)
            base = 12.0
            noise = 14.0 if motion[s] else 0.6
            breath = 2.0 * math.sin(2 * math.pi * s / 4.0)
            uni = rng_pleth.uniform
            wave = []
            for _ in range(PLETH_HZ):
                v = base + breath + amp * _BEAT[int(phase)] + uni(-noise, noise)
                wave.append(round(0.0 if v < 0.0 else 100.0 if v > 100.0 else v, 1))
                phase += step
                if phase >= _BEAT_N:
                    phase -= _BEAT_N
            yield Samples(t, "pleth", PLETH_HZ, np.array(wave), "au", OXIMETER)


class SimSource:
    """A live simulated session: ``stream(clock)`` yields ``simulate()``'s items stamped from
    the session start and paced by the clock (batched ~10 times per simulated second)."""

    def __init__(
        self,
        scenario: str | Scenario,
        *,
        seed: int = 0,
        pleth: bool = False,
        nibp_interval: float | None = None,
        duration: float | None = None,
        uri: str | None = None,
    ) -> None:
        self.scenario = get_scenario(scenario)
        self.seed = seed
        self.pleth = pleth
        self.nibp_interval = nibp_interval
        self.duration = duration
        self.uri = uri or f"sim://{self.scenario.name}?seed={seed}"
        self.metadata: dict = self.scenario.metadata(seed=seed, started=None)
        if duration is not None:
            self.metadata["duration_s"] = duration
        self._horizon = Horizon()

    @property
    def horizon(self) -> float | None:
        """Every item stamped before this session time has been yielded (None before the start)."""
        return self._horizon.t

    def items(self, start: float) -> Iterator[Item]:
        return simulate(
            self.scenario,
            seed=self.seed,
            start=start,
            duration=self.duration,
            pleth=self.pleth,
            nibp_interval=self.nibp_interval,
        )

    async def stream(self, clock: Clock) -> AsyncIterator[Item]:
        from datetime import datetime

        from devices.virtual.replay import paced

        t0 = session_start(clock)
        self.metadata["started"] = datetime.fromtimestamp(t0, UTC).isoformat()
        length = self.scenario.duration_s if self.duration is None else self.duration
        async for item in paced(self.items(t0), clock, t0, self._horizon, t0 + math.ceil(length)):
            yield item


def _bool_param(uri: DeviceURI, name: str) -> bool:
    raw = uri.param(name)
    if raw is None:
        return False
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off", ""):
        return False
    raise URIError(f"{uri.text}: {name}={raw!r} is not 0/1")


KNOWN_PARAMS = ("seed", "pleth", "nibp", "speed", "duration")


def open_sim(uri: DeviceURI) -> SimSource:
    """Open ``sim://SCENARIO?seed=N&pleth=1&nibp=SECONDS&duration=SECONDS`` (``speed`` is checked
    but pacing belongs to the clock the hub hands in)."""
    unknown = sorted(set(uri.params) - set(KNOWN_PARAMS))
    if unknown:
        raise URIError(f"{uri.text}: unknown parameter {unknown[0]!r} (known: {', '.join(KNOWN_PARAMS)})")
    if uri.target not in SCENARIOS:
        raise URIError(f"{uri.text}: unknown scenario {uri.target!r} (known: {', '.join(SCENARIOS)})")
    raw_seed = uri.param("seed", "0")
    try:
        seed = int(raw_seed)
    except ValueError:
        raise URIError(f"{uri.text}: seed={raw_seed!r} is not an integer") from None
    uri.float_param("speed", 1.0)
    nibp = uri.float_param("nibp", 0.0) if "nibp" in uri.params else None
    duration = uri.float_param("duration", 0.0) if "duration" in uri.params else None
    return SimSource(uri.target, seed=seed, pleth=_bool_param(uri, "pleth"), nibp_interval=nibp, duration=duration, uri=uri.text)
