"""Training: playback clock, perturbations, the scenario library, pacing, determinism, debrief."""

import asyncio
import json
import time
from types import SimpleNamespace

import pytest

from devices.virtual.perturb import Overlay, Perturbation
from devices.reading import Condition, reading
from devices.virtual.simulator import SimSource
from devices.source import FastClock, PlaybackClock
from monitor.rules.session_rules import SessionRules
from monitor.training.debrief import Action, debrief, judge, matches, trainee_actions
from monitor.session.hub import Hub
from monitor.session.start import build_plan
from monitor.session.model import Session
from monitor.session.store import Store
from monitor.training.library import ScenarioFileError, library, load_scenario, resolve

START = 1_800_000_000.0


# --- the playback clock -------------------------------------------------------------------

def test_playback_clock_pauses_speeds_up_and_skips_forward_only(monkeypatch):
    import devices.source

    wall = [100.0]  # the computer's monotonic clock, moved by the test
    monkeypatch.setattr(devices.source, "time", SimpleNamespace(monotonic=lambda: wall[0], time=time.time))
    clock = PlaybackClock(START, speed=10)
    wall[0] += 0.1
    assert clock.now() - START == pytest.approx(1.0)
    clock.pause()
    frozen = clock.now()
    wall[0] += 0.05
    assert clock.now() == frozen
    clock.skip_to(frozen + 600)
    assert clock.now() == frozen + 600
    clock.skip_to(frozen)  # never backwards
    assert clock.now() == frozen + 600
    clock.set_speed(60)
    clock.resume()
    wall[0] += 0.1
    assert clock.now() - (frozen + 600) == pytest.approx(6.0)


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


def test_a_ten_minute_scenario_at_60x_plays_in_ten_seconds(store):
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


def test_debrief_of_a_hypertensive_surge_session(store):
    source, meta = resolve("hypertensive_surge")
    session = Session("surge", "T", START, "iv", 70.0, kind="training", metadata=meta)
    store.create_session(session)
    Hub(store, session, [source], FastClock(START), SessionRules(build_plan(None, "iv", {}), START)).run()
    # The trainee holds the infusion 2 min after the surge and calls for help; never re-measures.
    store.write("surge", events=[(START + 600, "dose", {"route": "iv", "drug": "ketamine", "mg": 41.0,
                                                        "end": START + 3000}, "scenario"),
                                 (START + 37 * 60, "action", {"action": "hold_dosing"}, "RN Ade"),
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
    # The timeline holds the trainee's own actions, and times can be read from the first dose.
    assert [(r.t_s, r.event) for r in d.timeline if r.source == "trainee"] == [
        (37 * 60, "RN Ade: Hold dosing"), (38 * 60, "RN Ade: Call for help")]
    assert d.first_dose_s == 600 and d.started == START and d.as_dict()["first_dose_s"] == 600


def test_the_timeline_says_what_the_trainee_did_in_words():
    from monitor.rules.alarm_events import AlarmEvent
    from monitor.training.debrief import timeline
    from monitor.session.store import StoredEvent

    events = [StoredEvent(1, START + 60, "note", {"text": "oxygen 2 L/min"}, "RN"),
              StoredEvent(2, START + 70, "manual_nibp", {"sbp": 182, "dbp": 112, "map": 135}, "RN"),
              StoredEvent(3, START + 80, "dose", {"drug": "ketamine", "mg": 41, "route": "iv"}, "RN"),
              StoredEvent(4, START + 90, "action", {"action": "stop_dosing"}, "RN"),
              StoredEvent(5, START + 95, "dose", {"drug": "ketamine", "mg": 41, "route": "iv"}, "scenario")]
    raised = AlarmEvent(START + 50, "raised", "sbp_high", "high", "physiological", "sbp", 182, 180, "kap-iv: sbp_high",
                        "SBP 182")
    alarms = [raised, AlarmEvent(**{**raised.as_dict(), "t": START + 65, "event": "acknowledged", "who": "RN"}),
              AlarmEvent(**{**raised.as_dict(), "t": START + 66, "event": "audio_paused", "who": "RN"})]
    rows = timeline(events, alarms, START)
    assert [(r.t_s, r.event, r.response, r.source) for r in rows] == [
        (50, "alarm high: SBP 182", "acknowledged by RN", "alarm"),  # an acknowledgement is shown on its alarm
        (60, "RN: note \u201coxygen 2 L/min\u201d", "", "trainee"), (66, "RN: paused audio", "", "trainee"),
        (70, "RN: manual BP 182/112", "", "trainee"), (80, "RN: dose ketamine 41 mg", "", "trainee"),
        (90, "RN: Stop dosing", "", "trainee")]


def test_times_since_the_first_dose_in_minutes_and_seconds():
    from layouts.components import since_dose_text

    assert since_dose_text(0) == "T+00:00"
    assert since_dose_text(35 * 60 + 9.6) == "T+35:10"
    assert since_dose_text(-270) == "T-04:30"
    assert since_dose_text(125 * 60) == "T+125:00"


def test_scripted_events_are_not_trainee_actions():
    from monitor.session.store import StoredEvent

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


# --- what a page may start: the library and one recordings folder -------------------------------------

@pytest.fixture
def folder(tmp_path):
    """A recordings folder with one good recording, and beside it a secret it must not lead to."""
    from monitor.training.library import SAMPLE_RECORDINGS

    inside = tmp_path / "recordings"
    (inside / "2025").mkdir(parents=True)
    for suffix in (".csv", ".json"):
        (inside / "2025" / f"short{suffix}").write_bytes((SAMPLE_RECORDINGS / f"typical_iv_wide_15min{suffix}").read_bytes())
    secret = tmp_path / "secret"
    secret.mkdir()
    for suffix in (".csv", ".json"):
        (secret / f"env{suffix}").write_text("KAPMON_SECRET=1\n")
    (inside / "escape.csv").symlink_to(secret / "env.csv")
    (inside / "escape.json").symlink_to(secret / "env.json")
    (inside / "lonely.csv").write_text("t,vital,value\n")
    return inside


def test_only_recordings_inside_the_folder_are_offered(folder):
    from monitor.training.library import choices, recordings

    assert list(recordings(folder)) == ["2025/short.csv"]
    offered = {c.value: c for c in choices(folder)}
    assert "hypertensive_surge" in offered and "2025/short.csv" in offered
    assert offered["2025/short.csv"].kind == "recording" and offered["2025/short.csv"].happens
    assert recordings(None) == {} and recordings(folder / "missing") == {}


@pytest.mark.parametrize("choice, message", [
    ("/etc/passwd", "not other paths"),
    ("../secret/env.csv", "'..' is not allowed"),
    ("2025/../../secret/env.csv", "'..' is not allowed"),
    ("escape.csv", "leads outside"),
    ("lonely.csv", "not a recording"),
    ("missing.csv", "not a recording"),
    ("2025/short.json", "not a recording"),
    ("a\0b", "not other paths"),
    ("", "Choose a scenario"),
    (None, "Choose a scenario"),
    (["typical_iv"], "Choose a scenario"),
])
def test_anything_else_is_refused_with_a_clear_message(folder, choice, message):
    from monitor.training.library import TrainingInputError, choice_source

    with pytest.raises(TrainingInputError, match=message):
        choice_source(choice, folder)


def test_library_scenarios_and_folder_recordings_resolve(folder):
    from monitor.training.library import choice_source

    assert choice_source("hypertensive_surge", folder) == "hypertensive_surge"
    assert choice_source("2025/short.csv", folder) == str((folder / "2025" / "short.csv").resolve())
    with pytest.raises(ValueError, match="no recordings folder"):
        choice_source("2025/short.csv", None)


@pytest.mark.parametrize("speed", [float("nan"), float("inf"), -float("inf"), 0, 0.5, 61, 1e308, "10", True, None,
                                   [10]])
def test_bad_speeds_are_refused(speed):
    from monitor.training.library import TrainingInputError, check_speed

    with pytest.raises(TrainingInputError, match="speed must be a number from 1 to 60"):
        check_speed(speed)


def test_good_speeds_pass():
    from monitor.training.library import check_speed

    assert [check_speed(s) for s in (1, 10, 60, 2.5)] == [1.0, 10.0, 60.0, 2.5]


def test_a_bad_speed_never_reaches_a_hub(tmp_path):
    from monitor.training.library import TrainingInputError, start_training

    store = Store(tmp_path / "k.db")
    with pytest.raises(TrainingInputError):
        start_training(store, "typical_iv", float("nan"), "T")
    assert store.sessions() == []


@pytest.mark.parametrize("speed", ["nan", "inf", "0.5", "61", "abc"])
def test_replay_refuses_a_bad_speed(tmp_path, capsys, speed):
    from monitor.cli.main import main

    try:
        code = main(["replay", "typical_iv", "--speed", speed, "--db", str(tmp_path / "k.db")])
    except SystemExit as exc:  # argparse refuses what is not a number at all
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert "speed must be a number from 1 to 60" in err or "invalid float value" in err


def test_recordings_must_be_a_folder(tmp_path, capsys):
    from monitor.cli.main import main

    with pytest.raises(SystemExit):
        main(["replay", "typical_iv", "--recordings", str(tmp_path / "nope")])
    assert "not a folder" in capsys.readouterr().err


# --- the page refuses forged requests (HTTP) ----------------------------------------------------------

@pytest.fixture
def page(tmp_path, folder):
    from layouts.app import create_app

    store = Store(tmp_path / "k.db")
    live = {}
    app = create_app(store, live, folder)
    yield store, live, app.server.test_client()
    for hub in live.values():
        hub.stop()


def start_request(client, choice, speed, trainee="RN Ade"):
    from tests.helpers import dash_callback

    return dash_callback(client, "train-start", 1, {"train-choice.value": choice, "train-speed.value": speed,
                                                    "train-trainee.value": trainee})


@pytest.mark.parametrize("choice", ["/etc/passwd", "../secret/env.csv", "escape.csv", "/proc/self/environ"])
def test_the_training_page_refuses_paths_outside_the_folder(page, choice):
    store, live, client = page
    r = start_request(client, choice, 10)
    assert r.status_code == 200
    message = r.get_json()["response"]["train-result"]["children"]
    assert "recordings folder" in message and "KAPMON_SECRET" not in r.get_data(as_text=True)
    assert store.sessions() == [] and live == {}


@pytest.mark.parametrize("speed", ["NaN", 1e308, 0, "fast", None, True])
def test_the_training_page_refuses_bad_speeds(page, speed):
    store, live, client = page
    message = start_request(client, "typical_iv", speed).get_json()["response"]["train-result"]["children"]
    assert "speed must be a number from 1 to 60" in message
    assert store.sessions() == [] and live == {}


def test_a_nan_speed_in_raw_json_is_refused(page):
    """Browsers never send NaN, but Python's JSON parser accepts it from a forged request."""
    store, live, client = page
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if d["inputs"][0]["id"] == "train-start")
    raw = ('{"output": "%s", "outputs": [{"id": "url", "property": "pathname"}, {"id": "train-result", '
           '"property": "children"}], "inputs": [{"id": "train-start", "property": "n_clicks", "value": 1}], '
           '"changedPropIds": ["train-start.n_clicks"], "state": [{"id": "train-choice", "property": "value", '
           '"value": "typical_iv"}, {"id": "train-speed", "property": "value", "value": NaN}, {"id": "train-trainee",'
           ' "property": "value", "value": "RN Ade"}]}') % dep["output"]
    r = client.post("/_dash-update-component", data=raw, content_type="application/json")
    assert "speed must be" in r.get_json()["response"]["train-result"]["children"]
    assert store.sessions() == [] and live == {}


def test_the_training_page_starts_a_recording_from_the_folder(page):
    store, live, client = page
    r = start_request(client, "2025/short.csv", 60).get_json()["response"]
    [session] = store.sessions()
    assert r["url"]["pathname"] == f"/live/{session.id}" and session.kind == "training"


def test_forged_controls_are_refused_and_never_reach_the_clock(page):
    from tests.helpers import dash_callback

    store, live, client = page
    start_request(client, "typical_iv", 10)
    [(session_id, hub)] = live.items()
    hub.clock.pause()
    before = hub.clock.now()

    def press(trigger: dict) -> str:
        inputs = [{"id": "play-pause", "property": "n_clicks", "value": 0}] + [
            [{"id": trigger, "property": "n_clicks", "value": 1}] if t == trigger["type"] else []
            for t in ("speed", "skip", "trainee", "inject")]
        r = dash_callback(client, "play-pause", inputs=inputs, changed=trigger, state={
            "cursor.data": {"session": session_id}, "who.value": "RN Ade", "instructor.value": "Instr J"})
        return json.dumps(r.get_json())

    assert "speed must be a number" in press({"type": "speed", "x": "NaN"})
    assert "speed must be a number" in press({"type": "speed", "x": 1e308})
    assert "Skips are" in press({"type": "skip", "min": 1e9})
    assert "Unknown control" in press({"type": "trainee", "action": "drop_table"})
    assert "Unknown control" in press({"type": "trainee", "action": ["hold_dosing"]})
    assert "Unknown injection" in press({"type": "inject", "kind": "earthquake"})
    assert hub.running and hub.clock.speed == 10 and hub.clock.now() == before
    assert store.events(session_id, kind="action") == [] and store.events(session_id, kind="injection") == []
    assert "Speed 30" in press({"type": "speed", "x": 30})  # what the page offers still works
    assert hub.clock.speed == 30


# --- what the trainee and the instructor see -------------------------------------------------------------

def test_an_injection_looks_like_the_real_fault_to_the_trainee_and_is_labelled_in_the_debrief(tmp_path):
    from monitor.training.library import inject, start_training

    store = Store(tmp_path / "k.db")
    hub = start_training(store, "hypertensive_surge", 60.0, "RN Ade")
    try:
        assert inject(hub, "probe_off", "Instr J") == "Pull probe 60 s"
        deadline = time.monotonic() + 20
        raised = []
        while not raised and time.monotonic() < deadline:  # waits for the technical alarm's delay to pass
            raised = [a for _, a in store.alarm_events(hub.session.id) if a.event == "raised" and "sensor" in a.message]
            hub.finished.wait(0.05)
        assert raised, "no sensor-off alarm"
        seen = " ".join(a.message for a in hub.active_alarms()) + " ".join(a.message for a in raised)
        assert "Instr J" not in seen and "inject" not in seen.lower()
    finally:
        hub.stop()
    rows = [r for r in debrief(store, hub.session.id).timeline if r.source == "instructor"]
    assert [r.event for r in rows] == ["instructor Instr J: Pull probe 60 s"]


def test_the_surge_scenarios_cuff_cycles_as_often_as_its_plan_asks(tmp_path):
    """The plan for a patient with known hypertension cycles the cuff every 3 min; a 5-min simulated cuff
    left the page saying "NIBP overdue" for two minutes of every five."""
    spec = library()["hypertensive_surge"]
    plan = build_plan(None, spec.scenario.route, dict(spec.scenario.screening))
    store = Store(tmp_path / "k.db")
    source, meta = resolve("hypertensive_surge")
    session = Session("surge", "T", START, "iv", 82.0, kind="training", metadata=meta)
    store.create_session(session)
    Hub(store, session, [source], FastClock(START), SessionRules(plan, START)).run()
    cuffs = [r.t for r in store.readings("surge", vitals=["sbp"]) if r.value is not None]
    gaps = [b - a for a, b in zip(cuffs, cuffs[1:])]
    assert len(cuffs) > 20 and max(gaps) <= plan.nibp_interval_s


def test_every_library_scenario_cuffs_at_least_as_often_as_its_plan():
    for name, spec in library().items():
        plan = build_plan(None, spec.scenario.route, dict(spec.scenario.screening))
        assert spec.scenario.nibp_interval_s <= plan.nibp_interval_s, name


def test_each_choice_says_what_happens_what_it_teaches_and_how_long():
    from monitor.training.library import SAMPLE_RECORDINGS, choices

    offered = choices(SAMPLE_RECORDINGS)
    scenarios = [c for c in offered if c.kind == "scenario"]
    assert len(scenarios) == len(library())
    for c in scenarios:
        assert c.happens and c.teaches and c.length_s and c.length_s >= 600, c.value
    surge = next(c for c in offered if c.value == "hypertensive_surge")
    assert surge.length_s == 90 * 60 and "hold" in surge.teaches.lower()
