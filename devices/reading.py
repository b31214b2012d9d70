"""Readings and device conditions: what every source yields (their vocabulary is ``devices.vocabulary``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from devices.vocabulary import CONDITIONS, NO_VALUE, OK, QUESTIONABLE, STATUSES, VITALS, WAVEFORMS

MAX_SAMPLES = 65_536  # design proposal: the most samples one chunk carries (a minute of a 1 kHz ECG)
MAX_CHUNK_S = 1.0  # design proposal: how long a chunk ``chunks`` gathers from single samples may span


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one vital at one time (epoch seconds), from one source.

    ``value`` is ``None`` exactly when ``status`` is ``NO_VALUE``: a device's "no value" code
    is never turned into a number. A ``QUESTIONABLE`` reading keeps its number for the record (a
    device flagged it, or it is not plausible) but is never treated as the patient's value.
    """

    t: float
    vital: str
    value: float | None
    unit: str
    source: str
    status: str = OK

    def __post_init__(self) -> None:
        if not math.isfinite(self.t):
            raise ValueError(f"a reading's time must be a finite number of epoch seconds, not {self.t!r}")
        if self.vital not in VITALS:
            raise ValueError(f"unknown vital {self.vital!r}")
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        if (self.value is None) != (self.status == NO_VALUE):
            raise ValueError("a reading has no value exactly when its status is no_value")

    @property
    def has_value(self) -> bool:
        """Whether this reading is a trusted value of the patient (not no-value, not questionable)."""
        return self.status == OK


@dataclass(frozen=True, slots=True)
class Condition:
    """A device or technical condition (sensor off, cuff loose, disconnected...) starting or ending."""

    t: float
    condition: str
    source: str
    active: bool = True
    vitals: tuple[str, ...] = field(default=())
    detail: str = ""

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ValueError(f"unknown condition {self.condition!r}")


@dataclass(frozen=True, slots=True, eq=False)
class Samples:
    """A run of one waveform's samples from one source: sample ``i`` at ``t0 + i / rate_hz`` (epoch seconds).

    ``values`` is a read-only float64 array; NaN marks a sample without a value (it is read back as a
    no-value reading, never as a number) and is the only non-finite value allowed. ``status`` is that of the
    samples that have a value (ok, or questionable when the device flagged them). A source yields one of these
    instead of a :class:`Reading` per sample, so a waveform never costs an object per sample on its way in.
    """

    t0: float
    vital: str
    rate_hz: float
    values: np.ndarray
    unit: str
    source: str
    status: str = OK

    def __post_init__(self) -> None:
        where = f"{self.vital} samples from {self.source}"
        if self.vital not in WAVEFORMS:
            raise ValueError(f"{where}: {self.vital!r} is not a waveform (a numeric vital is a Reading)")
        if self.status not in (OK, QUESTIONABLE):
            raise ValueError(f"{where}: status {self.status!r} (ok or questionable; a missing sample is NaN)")
        if not (isinstance(self.t0, (int, float)) and math.isfinite(self.t0)):
            raise ValueError(f"{where}: start time {self.t0!r} is not a finite number")
        if not (isinstance(self.rate_hz, (int, float)) and math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise ValueError(f"{where}: rate {self.rate_hz!r} Hz is not a number above 0")
        try:
            values = np.array(self.values, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: the values are not numbers") from None
        if values.ndim != 1 or not 1 <= len(values) <= MAX_SAMPLES:
            raise ValueError(f"{where}: {values.size} values in {values.ndim} dimension(s); 1 to {MAX_SAMPLES} in a row")
        if np.isinf(values).any():
            raise ValueError(f"{where}: an infinite value (a sample without a value is NaN)")
        if not math.isfinite(self.t0 + (len(values) - 1) / self.rate_hz):
            raise ValueError(f"{where}: the last sample's time is not a finite number")
        values.flags.writeable = False
        object.__setattr__(self, "t0", float(self.t0))
        object.__setattr__(self, "rate_hz", float(self.rate_hz))
        object.__setattr__(self, "values", values)

    @property
    def t(self) -> float:
        """When the first sample was taken (items are ordered by ``t``)."""
        return self.t0

    def __len__(self) -> int:
        return len(self.values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Samples):
            return NotImplemented
        same = (self.t0, self.vital, self.rate_hz, self.unit, self.source, self.status)
        theirs = (other.t0, other.vital, other.rate_hz, other.unit, other.source, other.status)
        return same == theirs and np.array_equal(self.values, other.values, equal_nan=True)

    __hash__ = None  # type: ignore[assignment]

    def times(self) -> np.ndarray:
        """The time of every sample: ``t0 + i / rate_hz`` (float64)."""
        return self.t0 + np.arange(len(self.values)) / self.rate_hz

    @property
    def end(self) -> float:
        """When the last sample was taken."""
        return self.t0 + (len(self.values) - 1) / self.rate_hz

    def readings(self) -> list[Reading]:
        """The samples as readings, one each (a NaN as a no-value reading)."""
        return [
            Reading(t, self.vital, None, self.unit, self.source, NO_VALUE)
            if v != v
            else Reading(t, self.vital, v, self.unit, self.source, self.status)
            for t, v in zip(self.times().tolist(), self.values.tolist(), strict=True)
        ]


Item = Reading | Condition | Samples


def size(item: Reading | Samples) -> int:
    """How many readings ``item`` holds (and so how many reading ids it takes in the store)."""
    return len(item) if isinstance(item, Samples) else 1


def last_time(item: Item) -> float:
    """When the last reading ``item`` holds was taken (its ``t``, or a chunk's last sample)."""
    return item.end if isinstance(item, Samples) else item.t


def expand(items: Iterable[Item]) -> Iterator[Reading | Condition]:
    """``items`` with every chunk of samples given as its readings, one per sample (for consumers that play
    or write one reading at a time: emulators, recording files)."""
    for item in items:
        if isinstance(item, Samples):
            yield from item.readings()
        else:
            yield item


def chunks(items: Iterable[Item], span: float = MAX_CHUNK_S) -> Iterator[Item]:
    """``items`` with each run of consecutive single waveform samples (one vital, unit and source, rising
    times within ``span`` seconds, one status where they have a value) given as one :class:`Samples`, where
    their times are exactly ``t0 + i / rate`` for a rate of at most three decimals; samples off such a grid
    are left as they are. Everything else passes through in its place."""
    run: list[Reading] = []
    for item in items:
        if run and not _continues(run, item, span):
            yield from _gathered(run)
            run = []
        if isinstance(item, Reading) and item.vital in WAVEFORMS:
            run.append(item)
        else:
            yield item
    yield from _gathered(run)


def _continues(run: list[Reading], item: Item, span: float) -> bool:
    first, last = run[0], run[-1]
    if not isinstance(item, Reading):
        return False
    valued = next((r.status for r in run if r.status != NO_VALUE), item.status)
    return (
        (item.vital, item.unit, item.source) == (first.vital, first.unit, first.source)
        and last.t < item.t < first.t + span
        and len(run) < MAX_SAMPLES
        and item.status in (NO_VALUE, valued)
    )


def _gathered(run: list[Reading]) -> list[Item]:
    """``run`` as one chunk when its times lie exactly on a grid, else as it is."""
    if len(run) < 2:
        return list(run)
    t = np.array([r.t for r in run])
    values = np.array([math.nan if r.value is None else r.value for r in run])
    rate = round((len(run) - 1) / (t[-1] - t[0]), 3)
    on_grid = rate > 0 and np.array_equal(t[0] + np.arange(len(run)) / rate, t)
    if not on_grid or np.isnan(values).sum() != sum(r.value is None for r in run) or np.isinf(values).any():
        return list(run)  # off the grid, or a value no chunk may hold (the store refuses it as before)
    status = next((r.status for r in run if r.status != NO_VALUE), OK)
    first = run[0]
    return [Samples(first.t, first.vital, rate, values, first.unit, first.source, status)]


def reading(t: float, vital: str, value: float | None, source: str, unit: str | None = None) -> Reading:
    """Build a reading in the vital's standard unit; ``None`` makes a no-value reading."""
    return Reading(
        t=t,
        vital=vital,
        value=None if value is None else float(value),
        unit=VITALS[vital].unit if unit is None else unit,
        source=source,
        status=NO_VALUE if value is None else OK,
    )


def questionable(r: Reading) -> Reading:
    """``r`` with its number kept but marked questionable (a no-value reading stays as it is)."""
    return r if r.value is None else Reading(r.t, r.vital, r.value, r.unit, r.source, QUESTIONABLE)


def no_value(t: float, vital: str, source: str) -> Reading:
    """A reading that says the device had no value for ``vital`` at ``t``."""
    return reading(t, vital, None, source)


def in_physical_range(vital: str, value: float) -> bool:
    """Whether ``value`` is physically possible for ``vital``."""
    spec = VITALS[vital]
    return spec.low <= value <= spec.high
