"""Whether a stored session is live, ended or unfinished, read from the store alone, so every process
sharing a store (recorders, the sessions page, a viewer) gives the same answer.

A running recorder writes a heartbeat (wall clock) into the store at most once a second and an ``end``
event when it stops. A session is *live* while its heartbeat is fresh and it has no ``end`` event,
*ended* once it has one, and *unfinished* when neither: its recorder stopped without ending it (a crash,
a power cut; ``kapmon monitor --resume`` continues it).
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.session.resume import is_finished
from monitor.session.store import Store

# Design proposal: the hub beats at most once a second (monitor.session.hub.HEARTBEAT_S), so a beat older than
# five seconds means the recorder missed four in a row and is gone (or stuck).
FRESH_BEAT_S = 5.0

LIVE, ENDED, UNFINISHED = "live", "ended", "unfinished"


def liveness(ended: bool, beat: float | None, wall: float) -> str:
    """``live``, ``ended`` or ``unfinished`` from the ``end`` event, the last heartbeat and the wall clock now.
    A beat from the future (a clock stepped back) counts as fresh only within the same margin."""
    if ended:
        return ENDED
    if beat is not None and abs(wall - beat) < FRESH_BEAT_S:
        return LIVE
    return UNFINISHED


def session_states(store: Store, session_ids: Iterable[str], wall: float) -> dict[str, str]:
    """The liveness of each session, one heartbeat read for all of them."""
    beats = store.heartbeats()
    return {sid: liveness(is_finished(store, sid), beats.get(sid), wall) for sid in session_ids}
