"""Training: playback clock, perturbations, the scenario library, pacing, determinism, debrief."""

import asyncio
import time

import pytest

from devices.perturb import Overlay, Perturbation
from devices.reading import Condition, reading
from devices.simulator import SimSource
from devices.source import FastClock, PlaybackClock
from monitor.session_rules import SessionRules
from monitor.debrief import Action, debrief, judge, matches, trainee_actions
from monitor.hub import Hub
from monitor.running import build_plan
from monitor.session import Session
from monitor.store import Store
from monitor.training import ScenarioFileError, library, load_scenario, resolve

START = 1_800_000_000.0


# --- the playback clock -------------------------------------------------------------------

def test_playback_clock_pauses_speeds_up_and_skips_forward_only():
    clock = PlaybackClock(START, speed=10)
    time.sleep(0.1)
    assert 0.8 < clock.now() - START < 1.5
    clock.pause()
    frozen = clock.now()
    time.sleep(0.05)
    assert clock.now() == frozen
    clock.skip_to(frozen + 600)
    assert clock.now() == frozen + 600
    clock.skip_to(frozen)  # never backwards
    assert clock.now() == frozen + 600
    clock.set_speed(60)
    clock.resume()
    time.sleep(0.1)
    assert 5 < clock.now() - (frozen + 600) < 9


def test_a_sleeper_wakes_when_the_trainer_speeds_up():
    async def scenario():
        clock = PlaybackClock(START, speed=1)
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, clock.set_speed, 1000)
        t0 = time.monotonic()
        await clock.sleep_until(START + 60)  # 60 s at 1x, but the trainer goes to 1000x
        return time.monotonic() - t0

    assert asyncio.run(scenario()) < 0.5


def test_a_paused_clock_holds_sleepers_until_resumed():
    async def scenario():
        clock = PlaybackClock(START, speed=100)
        clock.pause()
        loop = asyncio.get_running_loop()
        loop.call_later(0.2, clock.resume)
        t0 = time.monotonic()
        await clock.sleep_until(START + 1)
        return time.monotonic() - t0

    assert 0.2 <= asyncio.run(scenario()) < 0.5


# --- perturbations ----------------------------------------------------------------------

def oximeter(t, spo2=97):
    return [reading(t, "spo2", spo2, "sim-oximeter"), reading(t, "pr", 70, "sim-oximeter"),
            reading(t, "hr", 70, "sim-ecg")]


def run_overlay(perturbations, items):
    overlay = Overlay()
    for p in perturbations:
        overlay.add(p)
    return [out for item in items for out in overlay.apply(item)]


def test_probe_off_gives_sensor_off_and_no_values_never_numbers():
    items = [i for t in range(0, 10) for i in oximeter(float(t))]
    out = run_overlay([Perturbation("probe_off", 3, 4)], items)
    conds = [c for c in out if isinstance(c, Condition)]
    assert [(c.t, c.condition, c.active) for c in conds] == [(3, "sensor_off", True), (7, "sensor_off", False)]
    during = [r for r in out if not isinstance(r, Condition) and 3 <= r.t < 7 and r.source == "sim-oximeter"]
    assert during and all(r.value is None and r.status == "no_value" for r in during)
    assert all(r.value == 70 for r in out if not isinstance(r, Condition) and r.vital == "hr")


def test_disconnect_silences_the_source_and_reports_it():
    items = [i for t in range(0, 10) for i in oximeter(float(t))]
    out = run_overlay([Perturbation("disconnect", 2, 5, source="sim-oximeter")], items)
    assert not [r for r in out if not isinstance(r, Condition) and 2 <= r.t < 7 and r.source == "sim-oximeter"]
    assert [(c.condition, c.active) for c in out if isinstance(c, Condition)] == [("disconnected", True),
                                                                                 ("disconnected", False)]


def test_desaturation_ramps_towards_its_target_and_bp_rise_takes_a_cuff_reading():
    items = [reading(0.0, "sbp", 120, "cuff"), reading(0.0, "dbp", 80, "cuff"), reading(0.0, "map", 93, "cuff")]
    items += [i for t in range(1, 400) for i in oximeter(float(t))]
    out = run_overlay([Perturbation("desaturation", 100, 240, amount=84), Perturbation("bp_rise", 50, 600, amount=40)],
                      items)
    spo2 = {r.t: r.value for r in out if not isinstance(r, Condition) and r.vital == "spo2"}
    assert spo2[99.0] == 97 and 84 <= spo2[130.0] < 97 and spo2[200.0] == 84 and spo2[399.0] == 97
    cuff = [r for r in out if not isinstance(r, Condition) and r.vital in ("sbp", "dbp") and r.t == 50.0]
    assert [(r.vital, r.value) for r in cuff] == [("sbp", 160.0), ("dbp", 104.0)]


def test_bad_perturbations_say_why():
    with pytest.raises(ValueError, match="unknown perturbation"):
        Perturbation("earthquake", 0, 1)
    with pytest.raises(ValueError, match="target SpO2"):
        Perturbation("desaturation", 0, 10, amount=20)


# --- the library ------------------------------------------------------------------------

def test_the_library_holds_every_scenario_the_trainers_need():
    lib = library()
    for name in ("typical_iv", "typical_im", "typical_sublingual", "hypertensive_surge", "desat_vs_probe_off",
                 "vasovagal_bradycardia", "device_disconnect", "alarm_fatigue", "predose_gate_failure"):
        assert name in lib, name
        assert lib[name].expectations, f"{name} says what a trainee should do"
        assert all(e.what for e in lib[name].expectations)


@pytest.mark.parametrize("text, where", [
    ('[scenario]\nbase = "nope"\n', "scenario.base"),
    ('[scenario]\nbase = "typical_iv"\ncolour = 1\n', "scenario.colour"),
    ('[scenario]\nbase = "typical_iv"\n[[expect]]\nid = "x"\nat_min = 1\nwithin_s = 1\nactions = ["dance"]\nwhat = "?"\n',
     "expect[0].actions"),
    ('[scenario]\nbase = "typical_iv"\n[[expect]]\nid = "x"\n', "expect[0]"),
    ('[scenario]\nbase = "typical_iv"\n[[perturbation]]\nkind = "probe_off"\nat_min = 1\n', "perturbation[0]"),
    ('[scenario]\nbase = "typical_iv"\n[scenario.overrides]\nname = "x"\n', "scenario.overrides.name"),
    ('[scenario\n', "file"),
])
def test_a_bad_scenario_file_names_the_file_and_field(tmp_path, text, where):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioFileError) as err:
        load_scenario(path)
    assert str(path) in str(err.value) and where in str(err.value)


# --- pacing and determinism through the hub ---------------------------------------------

def stored_values(name: str, tmp_path, tag: str) -> list[tuple]:
    store = Store(tmp_path / f"{tag}.db")
    source, meta = resolve(name)
    session = Session(tag, "T", START, meta["route"], 70.0, kind="training")
    store.create_session(session)
    Hub(store, session, [source], FastClock(START), SessionRules(build_plan(None, "iv", {}), START)).run()
    return [(r.t, r.vital, r.value, r.status) for r in store.readings(tag)]


def test_the_same_seed_gives_the_same_readings(tmp_path):
    first = stored_values("device_disconnect", tmp_path, "a")
    again = stored_values("device_disconnect", tmp_path, "b")
    assert len(first) > 10000 and first == again


def test_a_ten_minute_scenario_at_60x_plays_in_ten_seconds(tmp_path):
    store = Store(tmp_path / "k.db")
    session = Session("pace", "T", START, "iv", 70.0, kind="training")
    store.create_session(session)
    source = SimSource("typical_iv", seed=0, duration=600)
    clock = PlaybackClock(time.time(), speed=60)
    hub = Hub(store, session, [source], clock, SessionRules(build_plan(None, "iv", {}), START))
    t0 = time.monotonic()
    hub.start()
    assert hub.finished.wait(20)
    elapsed = time.monotonic() - t0
    assert 9.5 <= elapsed <= 10.5, f"took {elapsed:.2f} s"
    assert store.count_readings("pace") > 2000


# --- the debrief ------------------------------------------------------------------------

def test_matching_actions():
    assert matches("acknowledge", "acknowledge:spo2_low")
    assert matches("acknowledge:spo2", "acknowledge:spo2_critical")
    assert not matches("acknowledge:sbp", "acknowledge:spo2_low")
    assert matches("note:oxygen", "note:Oxygen 2 L/min given")
    assert not matches("hold_dosing", "stop_dosing")


def test_judging_done_missed_avoided_violated():
    acts = [Action(130.0, "acknowledge:sbp_critical", "RN"), Action(700.0, "dose", "RN")]
    exp = {"id": "x", "what": "w", "at_s": 100.0, "within_s": 60.0, "actions": ["acknowledge:sbp"]}
    assert judge(exp, acts).result == "done" and judge(exp, acts).response_s == 30.0
    assert judge({**exp, "within_s": 10.0}, acts).result == "missed"
    assert judge({**exp, "actions": ["not:dose"], "within_s": 500.0}, acts).result == "avoided"
    violated = judge({**exp, "actions": ["not:dose"], "within_s": 700.0}, acts)
    assert violated.result == "violated" and violated.action == "dose"
    assert judge({**exp, "at_s": 900.0}, acts, ended_s=600.0).result == "not reached"


def test_debrief_of_a_hypertensive_surge_session(tmp_path):
    store = Store(tmp_path / "k.db")
    source, meta = resolve("hypertensive_surge")
    session = Session("surge", "T", START, "iv", 70.0, kind="training", metadata=meta)
    store.create_session(session)
    Hub(store, session, [source], FastClock(START), SessionRules(build_plan(None, "iv", {}), START)).run()
    # The trainee holds the infusion 2 min after the surge and calls for help; never re-measures.
    store.write("surge", events=[(START + 37 * 60, "action", {"action": "hold_dosing"}, "RN Ade"),
                                 (START + 38 * 60, "action", {"action": "call_help"}, "RN Ade")])
    d = debrief(store, "surge")
    results = {o.id: (o.result, o.response_s) for o in d.outcomes}
    assert results["hold"] == ("done", 120.0)
    assert results["escalate"] == ("done", 180.0)
    assert results["recheck"][0] == "missed"
    assert results["acknowledge_surge"][0] == "missed"
    assert {o.id for o in d.missed} == {"recheck", "acknowledge_surge"}
    alarms = [r for r in d.timeline if r.event.startswith("alarm high")]
    assert alarms and all(r.response == "not acknowledged" for r in alarms)
    assert "recheck" in d.as_csv() and d.as_dict()["missed"]


def test_scripted_events_are_not_trainee_actions():
    from monitor.store import StoredEvent

    events = [StoredEvent(1, START + 5, "note", {"text": "scripted"}, "scenario"),
              StoredEvent(2, START + 6, "note", {"text": "mine"}, "RN"),
              StoredEvent(3, START + 7, "injection", {"kind": "probe_off"}, "instructor X")]
    assert [a.name for a in trainee_actions(events, [], START)] == ["note:mine"]


def test_a_fast_clock_never_wakes_a_later_sleeper_before_an_earlier_one():
    async def scenario():
        clock = FastClock(0.0)
        woke = []

        async def sleeper(times, name):
            for t in times:
                await clock.sleep_until(t)
                woke.append((clock.now(), name))

        await asyncio.gather(sleeper([600.0], "dose"), sleeper([float(t) for t in range(0, 700, 100)], "data"))
        return woke

    woke = asyncio.run(scenario())
    assert [t for t, _ in woke] == sorted(t for t, _ in woke)
    assert (600.0, "dose") in woke
