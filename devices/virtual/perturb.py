"""Perturbations laid over a simulated or replayed session: what an instructor injects (raise BP,
drop SpO2, pull a probe, disconnect a device) and what a training scenario scripts.

``Overlay.apply`` is a pure-state transform of the item stream (no clock, no I/O): items in,
items out, with the technical conditions a real device would report at the start and end.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace

from devices.reading import Condition, Item, Reading, Samples, no_value, reading
from devices.source import Clock, Source, session_start

KINDS = ("bp_rise", "desaturation", "probe_off", "disconnect")
OXIMETER_VITALS = ("spo2", "pr", "pi", "pleth")
RAMP_S = 60.0


@dataclass(frozen=True, slots=True)
class Perturbation:
    """One change from session time ``t`` for ``duration`` seconds.

    ``bp_rise``: ``amount`` mmHg added to systolic (60 % of it to diastolic) and an immediate cuff
    reading; ``desaturation``: SpO2 drawn down towards ``amount`` % (ramping over a minute);
    ``probe_off``: the oximeter reports sensor off and no values; ``disconnect``: ``source`` sends
    nothing and is reported disconnected.
    """

    kind: str
    t: float
    duration: float
    amount: float = 0.0
    source: str = "sim-oximeter"
    text: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown perturbation {self.kind!r} (known: {', '.join(KINDS)})")
        if self.duration <= 0:
            raise ValueError(f"{self.kind}: duration must be > 0")
        if self.kind == "desaturation" and not 50 <= self.amount <= 100:
            raise ValueError(f"desaturation: target SpO2 {self.amount:g} must be 50-100 %")
        if self.kind == "bp_rise" and not -80 <= self.amount <= 120:
            raise ValueError(f"bp_rise: {self.amount:g} mmHg must be -80 to 120")

    @property
    def end(self) -> float:
        return self.t + self.duration

    def shifted(self, dt: float) -> Perturbation:
        return replace(self, t=self.t + dt)

    def envelope(self, t: float) -> float:
        """0..1: how much of a ramped change applies at ``t``."""
        if not self.t <= t < self.end:
            return 0.0
        ramp = min(RAMP_S, self.duration / 2)
        return min(1.0, (t - self.t) / ramp, (self.end - t) / ramp)


@dataclass
class _State:
    started: bool = False
    ended: bool = False


@dataclass
class Overlay:
    """Applies perturbations to a stream of items. ``add`` is safe from any thread."""

    perturbations: list[Perturbation] = field(default_factory=list)
    _states: dict[int, _State] = field(default_factory=dict)
    _last: dict[str, Reading] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, p: Perturbation) -> None:
        with self._lock:
            self.perturbations.append(p)

    def apply(self, item: Item) -> list[Item]:
        """The items that replace ``item`` under the perturbations active at its time."""
        with self._lock:
            perturbations = list(enumerate(self.perturbations))
        if isinstance(item, Samples) and any(_cuts(p, item) for _, p in perturbations):
            return [out for r in item.readings() for out in self.apply(r)]  # sample by sample, as a device gives them
        out: list[Item] = []
        for i, p in perturbations:
            out += self._edges(i, p, item)
        kept: Item | None = item
        for _, p in perturbations:
            if kept is not None and p.t <= item.t < p.end:
                kept = _transform(p, kept)
        if isinstance(kept, Reading) and kept.has_value:
            self._last[kept.vital] = kept
        return out + ([kept] if kept is not None else [])

    def _edges(self, i: int, p: Perturbation, item: Item) -> list[Item]:
        state = self._states.setdefault(i, _State())
        out: list[Item] = []
        if not state.started and item.t >= p.t:
            state.started = True
            out += _start_items(p, item.t, self._last)
        if state.started and not state.ended and item.t >= p.end:
            state.ended = True
            out += _end_items(p, item.t)
        return out


def _start_items(p: Perturbation, t: float, last: dict[str, Reading]) -> list[Item]:
    if p.kind == "probe_off":
        return [Condition(t, "sensor_off", p.source, True, OXIMETER_VITALS, p.text)]
    if p.kind == "disconnect":
        return [Condition(t, "disconnected", p.source, True, (), p.text)]
    sbp0, dbp0 = (last[v].value if v in last else None for v in ("sbp", "dbp"))
    if p.kind == "bp_rise" and sbp0 is not None and dbp0 is not None:
        sbp, dbp = sbp0 + p.amount, dbp0 + 0.6 * p.amount
        source = last["sbp"].source
        return [
            reading(t, "sbp", round(sbp), source),
            reading(t, "dbp", round(dbp), source),
            reading(t, "map", round((sbp + 2 * dbp) / 3), source),
        ]
    return []


def _end_items(p: Perturbation, t: float) -> list[Item]:
    if p.kind == "probe_off":
        return [Condition(t, "sensor_off", p.source, False, OXIMETER_VITALS)]
    if p.kind == "disconnect":
        return [Condition(t, "disconnected", p.source, False)]
    return []


def _cuts(p: Perturbation, chunk: Samples) -> bool:
    """Whether ``p`` drops some of ``chunk``'s samples (a disconnect or probe-off of its source while it runs)."""
    return p.kind in ("disconnect", "probe_off") and p.source == chunk.source and p.t <= chunk.end and chunk.t0 < p.end


def _transform(p: Perturbation, item: Item) -> Item | None:
    """One item under one active perturbation (``None`` drops it)."""
    if p.kind == "disconnect":
        return None if item.source == p.source else item
    if not isinstance(item, Reading) or not item.has_value or item.value is None:
        return item
    if p.kind == "probe_off" and item.source == p.source and item.vital in OXIMETER_VITALS:
        return None if item.vital == "pleth" else no_value(item.t, item.vital, item.source)
    if p.kind == "desaturation" and item.vital == "spo2":
        value = item.value - (item.value - min(item.value, p.amount)) * p.envelope(item.t)
        return replace(item, value=float(round(value)))
    if p.kind == "bp_rise" and item.vital in ("sbp", "dbp", "map"):
        share = {"sbp": 1.0, "dbp": 0.6, "map": 0.73}[item.vital]
        return replace(item, value=float(round(item.value + share * p.amount)))
    return item


class OverlaySource:
    """A source seen through an overlay. Scripted perturbations given relative to the stream's start."""

    def __init__(self, inner: Source, scripted: Iterable[Perturbation] = ()) -> None:
        self.inner = inner
        self.uri = inner.uri
        self.metadata: dict = getattr(inner, "metadata", {})
        self.overlay = Overlay()
        self._scripted = list(scripted)

    def __getattr__(self, name: str) -> object:
        """Anything else (a replay's ``horizon``, say) is the wrapped source's."""
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def stream(self, clock: Clock) -> AsyncIterator[Item]:
        t0 = session_start(clock)
        for p in self._scripted:
            self.overlay.add(p.shifted(t0))
        async for item in self.inner.stream(clock):
            for out in self.overlay.apply(item):
                yield out
