"""Whether a stored session is live, ended or unfinished, read from the store by any process."""

from __future__ import annotations

from monitor.session.liveness import ENDED, FRESH_BEAT_S, LIVE, UNFINISHED, liveness, session_states
from monitor.session.model import Session
from monitor.session.store import Store

WALL = 1_800_000_000.0


def test_a_fresh_beat_without_an_end_is_live():
    assert liveness(False, WALL - 1, WALL) == LIVE
    assert liveness(False, WALL - FRESH_BEAT_S, WALL) == UNFINISHED  # four missed beats: gone
    assert liveness(False, None, WALL) == UNFINISHED
    assert liveness(True, WALL, WALL) == ENDED  # an end event wins over a last beat
    assert liveness(False, WALL + 3600, WALL) == UNFINISHED  # a beat from the future is not trusted


def test_states_come_from_a_second_connection_to_the_same_store(tmp_path):
    writer = Store(tmp_path / "k.db")
    for sid in ("live", "ended", "crashed", "never"):
        writer.create_session(Session(sid, "P-1", WALL - 600, "iv"))
    writer.beat("live", WALL - 1, 4242)
    writer.beat("ended", WALL - 1, 4243)
    writer.write("ended", events=[(WALL - 2, "end", {}, None)])
    writer.beat("crashed", WALL - 60, 4244)
    reader = Store(tmp_path / "k.db")  # as another process would open it
    states = session_states(reader, ["live", "ended", "crashed", "never"], WALL)
    assert states == {"live": LIVE, "ended": ENDED, "crashed": UNFINISHED, "never": UNFINISHED}
