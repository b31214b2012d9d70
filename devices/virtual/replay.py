"""Replay a recording as a live source: ``replay://sample_data/typical_iv.csv?speed=10``.

The recording is read (and checked) when the source is opened; ``stream(clock)`` yields its
items stamped from the session start and paced by the clock, and ends when the recording ends. A waveform's
samples are yielded as chunks (``devices.reading.chunks``) wherever their times lie exactly on a grid.
Speed belongs to the clock the hub hands in; the ``speed`` parameter is only checked here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path

from devices.errors import URIError
from devices.io.recording import Recording, read_recording
from devices.reading import Item, chunks, last_time
from devices.source import Clock, session_start
from devices.uri import DeviceURI

# Items are released in batches: the source sleeps at most once per TICK of session time.
TICK = 0.1

REPO_ROOT = Path(__file__).resolve().parents[2]


class Horizon:
    """How far a replayed source has got: every item stamped before ``t`` has been yielded.

    The hub lets the alarm engine run up to a replay's horizon and no further, so alarms are judged
    on the same data in the same order at any pace. ``t`` is None before the replay starts.
    """

    def __init__(self) -> None:
        self.t: float | None = None


async def paced(
    items: Iterable[Item], clock: Clock, t0: float, horizon: Horizon, end: float, tick: float = TICK
) -> AsyncIterator[Item]:
    """Yield ``items`` (stamped in session time, non-decreasing) once ``clock`` reaches them, then
    wait until ``end``; ``horizon`` follows how far the replay has got.

    Items due within the same ``tick`` are yielded together after one ``clock.sleep_until``; a chunk of
    waveform samples is due when its last sample is taken.
    """
    released = t0
    horizon.t = t0
    for item in items:
        due = last_time(item)  # a chunk once its last sample is taken
        if due > released:
            horizon.t = item.t
            k = -(-(due - t0) // tick)  # ceil
            released = max(t0 + k * tick, due)
            await clock.sleep_until(released)
        yield item
    if end > released:
        horizon.t = end
        await clock.sleep_until(end)
    horizon.t = max(end, released)


def resolve_path(target: str) -> Path:
    """The file a replay URI names: as given (relative to the working directory), else relative
    to the project's root (so ``replay://sample_data/typical_iv.csv`` works from anywhere)."""
    path = Path(target).expanduser()
    if path.exists() or path.is_absolute():
        return path
    alt = REPO_ROOT / path
    return alt if alt.exists() else path


class ReplaySource:
    """A recording replayed in session time from the clock's start."""

    def __init__(self, recording: Recording, uri: str | None = None) -> None:
        self.recording = recording
        self.uri = uri or f"replay://{recording.path}"
        self.metadata: dict = dict(recording.metadata)
        self.metadata.setdefault("sampling_s", recording.sampling_s())
        self._horizon = Horizon()

    @property
    def horizon(self) -> float | None:
        """Every item stamped before this session time has been yielded (None before the start)."""
        return self._horizon.t

    async def stream(self, clock: Clock) -> AsyncIterator[Item]:
        t0 = session_start(clock)
        self.metadata.setdefault("started", None)
        if self.metadata["started"] is None:
            self.metadata["started"] = datetime.fromtimestamp(t0, UTC).isoformat()
        async for item in paced(chunks(self.recording.items_from(t0)), clock, t0, self._horizon, t0 + self.recording.end):
            yield item


KNOWN_PARAMS = ("speed",)


def open_replay(uri: DeviceURI) -> ReplaySource:
    """Open ``replay://PATH?speed=X``; ``URIError`` if the file is missing, ``RecordingError`` if it
    does not read."""
    unknown = sorted(set(uri.params) - set(KNOWN_PARAMS))
    if unknown:
        raise URIError(f"{uri.text}: unknown parameter {unknown[0]!r} (known: {', '.join(KNOWN_PARAMS)})")
    uri.float_param("speed", 1.0)
    path = resolve_path(uri.target)
    if not path.is_file():
        raise URIError(f"{uri.text}: no recording at {path}")
    return ReplaySource(read_recording(path), uri=uri.text)
