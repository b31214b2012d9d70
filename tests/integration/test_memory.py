"""A long session keeps memory flat: nothing in the hub, the alarm engine or the store keeps an object
per reading once it is stored."""

import gc

from devices.reading import Reading
from devices.virtual.simulator import SimSource
from devices.source import FastClock
from monitor.rules.session_rules import SessionRules
from monitor.session.hub import Hub
from monitor.session.start import build_plan
from monitor.session.model import Session

START = 1_800_000_000.0


def test_no_reading_outlives_its_flush(store):
    session = Session("mem", "P-1", START, "iv", 70.0)
    store.create_session(session)
    source = SimSource("typical_iv", seed=2, pleth=True, duration=20 * 60)
    engine = SessionRules(build_plan("kap-iv", "iv", {}), START)
    hub = Hub(store, session, [source], FastClock(START), engine)
    gc.collect()
    before = sum(isinstance(o, Reading) for o in gc.get_objects())  # other tests' leftovers
    hub.run()
    n = store.count_readings("mem")
    assert n > 90_000  # 20 min with 75 Hz pleth
    gc.collect()
    alive = sum(isinstance(o, Reading) for o in gc.get_objects()) - before
    assert alive < 500, f"{alive} readings still referenced after {n:,} passed through"
    assert not hub._pending
