"""The live page's logic without a browser: trend labels, markers, notes that can still be undone, the
plan as a short list, and the nurse's actions against a real hub."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from dash import no_update
from plotly.io.json import to_json_plotly

from devices.reading import reading
from devices.virtual.scenarios import screening
from layouts import controls
from layouts.components import COLOURS, DASHES, LABEL_PX, TREND_MARGIN, TREND_MIN_PX, TRENDS, clock_text, spread, trend_figure
from layouts.live import (
    MARKER_TEXT,
    MAX_POINTS,
    TREND_EVERY_S,
    TREND_VITALS,
    WINDOW_S,
    extend_trend,
    trends_due,
    layout,
    settled_notes,
    window_start,
)
from monitor.session.model import Session
from monitor.session.start import build_plan, start_session
from monitor.session.store import Store, StoredEvent, TrendColumns
from tests.helpers import Idle, ListSource, wait_for

T0 = 1_800_000_000.0


def test_spread_keeps_labels_apart_in_order_and_leaves_distant_ones_alone():
    assert spread([50, 150], 20) == [50, 150]
    values = [180, 110, 160, 100, 90, 50]
    at = spread(values, 26)
    ordered = sorted(zip(values, at))
    assert [a for _, a in ordered] == sorted(at)  # the order of the lines is kept
    assert all(b - a >= 26 - 1e-9 for (_, a), (_, b) in zip(ordered, ordered[1:]))
    assert abs(sum(at) / len(at) - sum(values) / len(values)) < 1e-9  # moved around their mean


@pytest.mark.parametrize("key", list(TRENDS))
def test_limit_labels_never_overprint_on_the_smallest_trend(key):
    fig = trend_figure(key, build_plan("kap-iv", "iv", {}).limits)
    lo, hi = TRENDS[key]["range"]
    px_per_unit = (TREND_MIN_PX - TREND_MARGIN["t"] - TREND_MARGIN["b"]) / (hi - lo)
    labels = sorted(a.ay if a.showarrow else a.y for a in fig.layout.annotations)  # beside its line, or led to it
    assert labels, "no limit labels drawn"
    assert all((b - a) * px_per_unit >= LABEL_PX - 1e-6 for a, b in zip(labels, labels[1:]))


def test_hr_and_pr_share_limit_lines_but_not_colours():
    fig = trend_figure("hr", build_plan("kap-iv", "iv", {}).limits)
    texts = [a.text for a in fig.layout.annotations]
    assert sorted(texts) == sorted(["HR/PR < 40", "HR/PR < 50", "HR/PR > 120", "HR/PR > 150"])
    hr, pr = fig.data[0], fig.data[1]
    assert hr.line.color != pr.line.color and COLOURS["hr"] != COLOURS["pr"]
    assert pr.line.dash == DASHES["pr"] != hr.line.dash
    assert fig.layout.xaxis.tickformat == "%H:%M"  # never milliseconds


def test_a_label_beside_its_line_has_no_leader_and_a_moved_one_has():
    limits = build_plan("kap-iv", "iv", {}).limits
    labels = [a for key in ("bp", "hr") for a in trend_figure(key, limits).layout.annotations]
    beside = [a for a in labels if not a.showarrow]
    led = [a for a in labels if a.showarrow]
    assert beside and led  # the BP limits crowd and are moved apart; HR's have room
    assert all(a.xshift == 10 for a in beside)
    assert all(a.ay != a.y and a.ax == 10 for a in led)


def points(rows: list[tuple[float, str, float]]) -> TrendColumns:
    """Trend points as the store reads them, from ``(t, vital, value)`` (value NaN: no value)."""
    return TrendColumns(
        len(rows) or None,
        len(rows),
        {v: (np.array([t for t, w, _ in rows if w == v]), np.array([x for _, w, x in rows if w == v])) for v in TREND_VITALS},
    )


def sent(value: object) -> object:
    """What the page receives: a callback answer as Dash encodes it (plotly's encoder, orjson)."""
    return json.loads(to_json_plotly(value))


@pytest.fixture
def zone(monkeypatch):
    """The server's time zone for one test."""

    def use(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield use
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("name", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_trend_times_are_the_clock_the_tiles_show_in_the_servers_zone(zone, name):
    zone(name)
    times = [T0, T0 + 0.999, T0 + 2.5, T0 + 86_399.001]
    data, traces, most = sent(extend_trend(points([(t, "hr", 72.0 + i) for i, t in enumerate(times)]), [], "hr"))
    assert data["x"][0] == [clock_text(t) for t in times] and data["x"][1] == []  # to the millisecond
    assert data["y"][0] == [72.0, 73.0, 74.0, 75.0] and traces == [0, 1, 2] and most == MAX_POINTS


def test_a_batch_across_a_change_of_summer_time_keeps_each_point_at_its_own_clock(zone):
    zone("Europe/London")
    change = time.mktime((2026, 3, 29, 2, 0, 0, 0, 0, 1))  # 01:00 GMT becomes 02:00 BST
    times = [change - 1800, change - 1, change, change + 1800]
    data, _, _ = sent(extend_trend(points([(t, "spo2", 97.0) for t in times]), [], "spo2"))
    assert [x[11:19] for x in data["x"][0]] == ["00:30:00", "00:59:59", "02:00:00", "02:30:00"]
    assert data["x"][0] == [clock_text(t) for t in times]


def test_a_reading_without_a_value_reaches_the_page_as_a_gap_and_graphs_with_nothing_new_get_nothing(zone):
    zone("UTC")
    new = points([(T0, "hr", 72.0), (T0 + 1, "hr", math.nan), (T0 + 2, "hr", 74.0)])
    data, _, _ = sent(extend_trend(new, [], "hr"))
    assert data["y"][0] == [72.0, None, 74.0] and data["x"][0][0] == "2027-01-15 08:00:00.000"
    assert extend_trend(new, [], "bp") is no_update and extend_trend(new, [], "spo2") is no_update
    assert extend_trend(points([]), [], "hr") is no_update


def test_a_time_no_date_can_say_is_a_gap_and_the_other_points_are_drawn(zone):
    """A device with a wrong clock: a reading stamped before 1970, in the year 33,658, or at infinity. The page
    draws the other points and leaves those out, and the answer is still valid JSON."""
    zone("UTC")
    bad = [(T0 + 1, "hr", 71.0), (-5.0, "hr", 60.0), (1e12, "hr", 61.0), (math.inf, "hr", 62.0), (1e308, "hr", 63.0)]
    data, _, _ = sent(extend_trend(points([(T0, "hr", 70.0), *bad, (T0 + 2, "hr", 72.0)]), [], "hr"))
    assert data["x"][0] == [clock_text(T0), clock_text(T0 + 1), None, None, None, None, clock_text(T0 + 2)]
    assert data["y"][0][:2] == [70.0, 71.0] and len(data["y"][0]) == 7


def test_a_live_session_with_a_reading_from_a_wrong_clock_still_ticks(tmp_path):
    from layouts.app import create_app

    store = Store(tmp_path / "c.db")
    hub = start_session(store, [ListSource([])], patient="C-1", route="iv", weight_kg=70.0, screening=screening(age=45))
    try:
        now = hub.now()
        hub.add_readings([reading(now, "hr", 70, "ox"), reading(1e12, "hr", 71, "ox")])
        status, body = tick(create_app(store, {hub.session.id: hub}), {"session": hub.session.id})
        assert status == 200
        hr = next(d for d in body["response"]["trend-hr"]["extendData"] if isinstance(d, dict))
        assert hr["x"][0] == [clock_text(now), None] and hr["y"][0] == [70.0, 71.0]
    finally:
        hub.stop()


def note(i: int, t: float, text: str = "Nausea", kind: str = "note", **data) -> StoredEvent:
    return StoredEvent(i, t, kind, {"text": text, **data}, "RN Li")


def test_markers_close_in_time_step_their_labels_and_keep_the_whole_text_on_hover():
    long = "patient reports a mild headache and asks for the lights down"
    events = [note(1, T0, "Nausea"), note(2, T0 + 5, long), note(3, T0 + 9, "Anxiety")]
    data, traces, _ = sent(extend_trend(points([]), events, "bp", marks=0))
    tops = data["y"][-1][1::3]
    assert len(set(tops)) == 3  # three heights: neighbours do not overprint
    labels = [t for t in data["text"][-1] if t]
    assert labels[1].endswith("\u2026") and len(labels[1]) == MARKER_TEXT
    assert long in data["hovertext"][-1]
    assert traces == [0, 1, 2, 3] and all(len(t) == 0 for t in data["text"][:-1])
    again, _, _ = sent(extend_trend(points([]), events[:1], "bp", marks=3))  # the level continues from the marks drawn
    assert again["y"][-1][1] == tops[0] - 0.1 * (220 - 40) * 3


def test_a_note_is_drawn_once_it_can_no_longer_be_undone_and_never_if_undone():
    events = [note(5, T0), note(6, T0 + 1, kind="dose"), note(7, T0 + 2, "Vomiting"),
              note(8, T0 + 3, kind="correction", corrects=5)]
    shown, cursor = settled_notes(events, 4, now=T0 + 3, speed=1.0, undoable=True)
    assert shown == [] and cursor == 4  # the first note can still be undone: look again next tick
    shown, cursor = settled_notes(events, 4, now=T0 + controls.UNDO_S + 1, speed=1.0, undoable=True)
    assert [e.id for e in shown] == [] and cursor == 6  # note 5 was undone; note 7 is still undoable
    shown, cursor = settled_notes(events, 4, now=T0 + 102, speed=1.0, undoable=True)
    assert [e.id for e in shown] == [7] and cursor == 8
    shown, cursor = settled_notes(events, 4, now=T0 + 102, speed=100.0, undoable=True)
    assert shown == [] and cursor == 4  # at 100x those 102 session seconds are about one real second
    shown, cursor = settled_notes(events, 0, now=T0, speed=1.0, undoable=False)
    assert [e.id for e in shown] == [7] and cursor == 8  # not live here: every note is final


@pytest.fixture
def live(tmp_path):
    """A live session (HR, SpO2 and a baseline BP) at ``speed``, for driving the nurse's actions."""
    hubs = []

    def start(speed: float = 1.0):
        store = Store(tmp_path / f"k{speed:g}.db")
        items = [reading(float(t), v, x, "ox") for t in range(900) for v, x in (("hr", 72), ("spo2", 97))]
        hub = start_session(store, [ListSource(items)], patient="Q-1", route="iv", weight_kg=80.0, speed=speed,
                            screening=screening(age=45))
        hubs.append(hub)
        return store, hub

    yield start
    for hub in hubs:
        hub.stop()


@pytest.mark.parametrize("speed, said_text, session_s", [
    (1.0, "Audio paused 2:00 by RN Li", 120),
    (2.0, "Audio paused 2:00 by RN Li", 240),  # two real minutes at 2x are 240 session seconds
    (10.0, "Audio paused 2:00 by RN Li", 1200),  # a demo at 10x: still two real minutes
])
def test_pause_audio_is_two_real_minutes_or_says_why_not(live, speed, said_text, session_s):
    store, hub = live(speed)
    text, ok = controls.pause_audio(hub, "RN Li")
    assert ok and text == said_text
    (paused,) = [a for _, a in store.alarm_events(hub.session.id) if a.event == "audio_paused"]
    assert paused.who == "RN Li" and f"audio paused {session_s} s" in paused.message


def test_acknowledging_a_card_records_each_alarm_with_who(live):
    store, hub = live()
    now = hub.now()
    hub.add_readings([reading(now, "sbp", 196, "manual"), reading(now, "dbp", 104, "manual"),
                      reading(now, "map", 135, "manual")])
    alarms = []
    while len(alarms) < 4:  # SBP >= 180, SBP > 160, DBP > 100, MAP > 110
        alarms = hub.active_alarms()  # the hub takes the readings within a flush (0.2 s)
    ids = [a.alarm_id for a in alarms]
    assert controls.acknowledge(hub, ids, "RN Li") == ("Acknowledged 4 alarms by RN Li", True)
    acks = [a for _, a in store.alarm_events(hub.session.id) if a.event == "acknowledged"]
    assert sorted(a.alarm_id for a in acks) == sorted(ids) and {a.who for a in acks} == {"RN Li"}
    assert controls.acknowledge(hub, ids, "RN Li") == ("Already acknowledged", True)


def test_what_a_page_says_its_cards_showed_is_checked():
    assert controls.shown_cards({"physiological:nibp": ["sbp_critical", 7, None], "x": "sbp_high"}) == {
        "physiological:nibp": ["sbp_critical"]}
    assert controls.shown_cards(["sbp_critical"]) == {} and controls.shown_cards(None) == {}


def test_undo_appends_a_correction_within_the_window_only(live, monkeypatch):
    store, hub = live()
    sid = hub.session.id
    hub.add_event("note", {"text": "Vomiting"}, "RN Li")
    event_id = controls.added_note(store, sid, "Vomiting", "RN Li")
    assert controls.undo_note(hub, store, event_id, "RN Li") == ("Note \u201cVomiting\u201d undone by RN Li", True)
    (correction,) = store.events(sid, kind="correction")
    assert correction.data["corrects"] == event_id and correction.who == "RN Li"
    assert [e.id for e in store.events(sid, kind="note")] == [event_id]  # append-only: the note stays
    assert controls.undo_note(hub, store, event_id, "RN Li")[0] == "That note is already undone."
    store.write(sid, events=[(hub.session.started, "note", {"text": "Anxiety"}, "RN Li")])
    old = controls.added_note(store, sid, "Anxiety", "RN Li")
    later = hub.session.started + (controls.UNDO_S + 5) * hub.clock_speed  # a note taken 13 real seconds ago
    monkeypatch.setattr(hub, "now", lambda: later)
    assert controls.undo_note(hub, store, old, "RN Li") == ("Too late to undo (more than 8 s): the note stands.", False)
    for bogus in (10**9, "1 OR 1=1", None, [event_id]):
        assert controls.undo_note(hub, store, bogus, "RN Li") == ("No such note to undo.", False)
    assert len(store.events(sid, kind="correction")) == 1


def test_the_plan_is_a_short_list_with_its_sources_behind_a_toggle(live):
    _, hub = live()
    box = controls.plan_box(hub.view.snapshot())
    summary, lines, sources = box.children
    assert summary.children.startswith("Plan kap-iv")
    short = [li.children for li in lines.children]
    assert "NIBP every 5 min" in short and any(line.startswith("HR, PR: ") for line in short)
    assert not any("[" in line or "clinical-reference" in line for line in short)
    assert sources.children[0].children == "sources"
    assert any("clinical-reference" in li.children for li in sources.children[1].children)


def test_before_the_first_update_the_page_says_it_is_waiting(tmp_path):
    store = Store(tmp_path / "w.db")
    page = str(layout("no-such-session", None, store))
    assert page.count("waiting for data") == 3 and "trends trends-waiting" in page


def tick(app, cursor: object) -> tuple[int, dict]:
    """Ask the live page's tick callback for an update, as the browser does, with ``cursor`` as the page's state."""
    client = app.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    spec = next(d for d in deps if any(i["id"] == "tick" for i in d["inputs"]))
    outputs = [dict(zip(("id", "property"), o.rsplit(".", 1))) for o in spec["output"].strip(".").split("...")]
    body = {"output": spec["output"], "outputs": outputs, "changedPropIds": ["tick.n_intervals"],
            "inputs": [{"id": "tick", "property": "n_intervals", "value": 1}],
            "state": [{"id": "cursor", "property": "data", "value": cursor}]}
    response = client.post("/_dash-update-component", json=body)
    return response.status_code, response.get_json() if response.status_code == 200 else {}


@pytest.mark.parametrize("cursor", [
    None, [], "x", {"session": ["s"]}, {"session": "s"},
    {"session": "s", "id": "0 OR 1=1", "pleth": -4, "dose": 1e300, "event": True, "marks": None},
])
def test_a_stale_or_tampered_cursor_never_breaks_the_tick(tmp_path, cursor):
    from layouts.app import create_app
    from monitor.session.model import Session

    store = Store(tmp_path / "t.db")
    store.create_session(Session("s", "P-1", T0, "iv"))
    store.write("s", [reading(T0 + 1, "hr", 70, "ox")])
    status, body = tick(create_app(store), cursor)
    assert status == 200
    sent_back = body["response"]["cursor"]["data"]
    assert all(isinstance(sent_back[k], int) and sent_back[k] >= 0 for k in ("id", "pleth", "dose", "event", "marks"))



START = 1_700_000_000.0
NOW = START + 3 * 3600  # the end of a 3-hour session


def long_session(tmp_path, late: list | None = None) -> Store:
    """A reading of HR and SpO2 a minute for 3 hours, after ``late`` readings (stored first)."""
    store = Store(tmp_path / "k.db")
    store.create_session(Session("s1", "P-1", START, "iv", 70.0))
    if late:
        store.write("s1", late)
    store.write("s1", [reading(START + m * 60, v, 60 + m % 30, "ox") for m in range(181) for v in ("hr", "spo2")])
    return store


def trends_read(store: Store, after_id: int) -> tuple[dict, int]:
    """What a page's tick reads from ``after_id`` for its 2-hour window: each vital's times and values, and the count."""
    read = store.trend_columns("s1", after_id, TREND_VITALS, 20_000, since=NOW - WINDOW_S)
    return {v: (list(t), list(x)) for v, (t, x) in read.points.items()}, read.count


def test_a_new_page_of_a_long_session_reads_its_trends_window_and_nothing_older(tmp_path):
    store = long_session(tmp_path)
    first = min(r.id for r in store.readings("s1") if r.t >= NOW - WINDOW_S)
    assert window_start(store, "s1", NOW) == first - 1  # the first hour's 120 rows are not even scanned
    read = trends_read(store, window_start(store, "s1", NOW))
    assert read == trends_read(store, 0) and read[1] == 2 * 121  # the last 2 hours
    assert read[0]["hr"][0][0] == NOW - WINDOW_S
    assert window_start(store, "s1", START + 10) == 0  # a session shorter than the window: from the start


def test_a_late_reading_inside_the_window_stored_before_older_ones_is_still_read(tmp_path):
    store = long_session(tmp_path, late=[reading(NOW - 600, "hr", 140, "manual")])
    read = trends_read(store, window_start(store, "s1", NOW))
    assert read == trends_read(store, 0) and read[1] == 2 * 121 + 1
    assert (NOW - 600, 140.0) in zip(*read[0]["hr"])


# --- how often the trends take new points ----------------------------------------------------------------------

SENT = {"session": "s", "id": 40, "trends_at": 1000.0, "trends_behind": False}


@pytest.mark.parametrize("after, due", [(TREND_EVERY_S - 0.001, False), (TREND_EVERY_S, True), (TREND_EVERY_S + 0.001, True),
                                        (0.0, False), (-0.001, True)])
def test_trends_take_new_points_every_few_seconds_of_session_time(after, due):
    """Each new point redraws the graph in every page: points wait TREND_EVERY_S session seconds (a clock that
    went back does not hold them)."""
    assert trends_due(SENT, 0, False, 1000.0 + after) is due


@pytest.mark.parametrize("change", [
    {"id": 0},  # a page's first tick
    {"trends_at": None},  # a cursor from before, or tampered with
    {"trends_at": "soon"},
    {"trends_behind": True},  # still catching up on a long session
])
def test_trends_are_sent_at_once_to_a_page_that_has_not_all_of_them(change):
    assert trends_due({**SENT, **change}, 0, False, 1000.5)


def test_a_dose_or_note_and_an_ended_session_go_to_the_trends_at_once():
    assert trends_due(SENT, 1, False, 1000.5)  # the marker goes with the points up to it
    assert trends_due(SENT, 0, True, 1000.5)
    assert not trends_due(SENT, 0, False, 1000.5)


def test_points_between_trend_updates_wait_for_the_next_and_none_is_lost(tmp_path):
    """In session time: a page's first tick draws the HR so far; a reading 2 s later shows on the tile and waits
    for the trend; a dose goes to the trend at once, with the points before it; 5 s on, the rest come."""
    from layouts.app import create_app
    from monitor.session.model import Dose

    store = Store(tmp_path / "c.db")
    hub = start_session(store, [Idle()], patient="C-1", route="iv", weight_kg=70.0, screening=screening(age=45),
                        playback=True, kind="training")  # a clock the test moves
    try:
        app = create_app(store, {hub.session.id: hub})
        hub.clock.pause()  # session time moves only when the test says
        start = hub.now()

        def hr_points(body: dict) -> list:
            update = body["response"].get("trend-hr", {}).get("extendData")
            data = next((d for d in update if isinstance(d, dict)), None) if isinstance(update, list) else None
            return data["y"][0] if data else []

        def at(t: float, value: float | None = None) -> None:
            hub.clock.skip_to(start + t)
            if value is not None:
                hub.add_readings([reading(hub.now(), "hr", value, "ox")])
                wait_for(lambda: hub.view.snapshot().latest.get("hr") and hub.view.snapshot().latest["hr"].value == value,
                         5, "the reading published")

        at(1, 70)
        _, body = tick(app, {"session": hub.session.id})
        assert hr_points(body) == [70.0]
        cursor = body["response"]["cursor"]["data"]
        at(3, 71)
        _, body = tick(app, cursor)
        assert hr_points(body) == [] and body["response"]["value-hr"]["children"] == "71"  # the tile at once
        cursor = body["response"]["cursor"]["data"]
        at(4, 72)
        hub.add_dose(Dose(hub.now(), "iv", "ketamine", 35.0, end=hub.now() + 2400), "RN Li")
        _, body = tick(app, cursor)
        assert hr_points(body) == [71.0, 72.0]  # a dose goes to the trends at once, with the points before it
        cursor = body["response"]["cursor"]["data"]
        at(6, 73)
        _, body = tick(app, cursor)
        assert hr_points(body) == []
        cursor = body["response"]["cursor"]["data"]
        at(4 + TREND_EVERY_S, 74)
        _, body = tick(app, cursor)
        assert hr_points(body) == [73.0, 74.0]
    finally:
        hub.stop()
