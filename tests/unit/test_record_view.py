"""What the review page and the report share: label rows, the highest alarm over time, time texts."""

from monitor.rules.alarm_events import AlarmEvent
from monitor.analysis.record_view import stagger, top_spans
from monitor.analysis.summary import episodes
from monitor.analysis.timeref import TimeRef, duration_text


def test_labels_in_one_row_never_overlap():
    rows = stagger([0, 5, 8, 30, 31], [10, 10, 10, 10, 10])
    assert rows == [0, 1, 2, 0, 1]
    assert stagger([], []) == [] and stagger([3], [100]) == [0]


def alarm(t, event, alarm_id, priority):
    return AlarmEvent(t, event, alarm_id, priority, "physiological", "sbp", 1.0, 1.0, "r", alarm_id)


def test_the_shading_is_the_highest_alarm_active_and_never_overlaps():
    eps = episodes([alarm(0, "raised", "a", "low"), alarm(10, "raised", "b", "high"), alarm(20, "cleared", "b", "high"),
                    alarm(30, "cleared", "a", "low"), alarm(40, "raised", "c", "medium")])
    assert top_spans(eps, 50) == [("low", 0, 10), ("high", 10, 20), ("low", 20, 30), ("medium", 40, 50)]


def test_time_texts():
    ref = TimeRef.of(1000.0, 400.0)
    assert (ref.text(1000 + 12 * 60), ref.text(400), ref.text(1000 + 75 * 60)) == ("T+12 min", "T-10 min", "T+1 h 15 min")
    assert TimeRef.of(None, 400.0).what == "session start"
    assert [duration_text(s) for s in (None, 45, 65, 3600 * 3 + 600)] == ["-", "45 s", "1 min 05 s", "3 h 10 min"]


def test_a_zoom_range_that_is_not_two_increasing_numbers_is_ignored():
    from layouts.review import x_range

    assert x_range({"xaxis.range[0]": 1, "xaxis.range[1]": 2.5}) == (1, 2.5)
    assert x_range({"xaxis3.range": ["1", "4"]}) == (1, 4)
    assert x_range({"xaxis.autorange": True}) == "all"
    for bad in ({"xaxis.range[0]": "abc", "xaxis.range[1]": 3}, {"xaxis.range": [float("nan"), 2]},
                {"xaxis.range[0]": 5, "xaxis.range[1]": 2}, {"xaxis.range": [None, True]}, {"yaxis.range": [0, 1]}):
        assert x_range(bad) is None, bad


def test_recording_state_reads_the_end_event_and_the_heartbeat():
    from monitor.analysis.record_view import recording_state
    from monitor.session.model import Session
    from monitor.session.store import StoredEvent
    from monitor.analysis.summary import SessionRecord

    def record(*kinds):
        events = [StoredEvent(i, 100.0 + i, k, {}, None) for i, k in enumerate(kinds)]
        return SessionRecord(Session("s", "P", 0.0, "iv"), [], events, [], [], 200.0)

    assert recording_state(record("note", "end"), None, 1e9) == "ended"
    assert recording_state(record("note"), 995.0, 1000.0) == "recording"
    assert recording_state(record("note"), 900.0, 1000.0) == "stopped"
    assert recording_state(record("note"), None, 1000.0) == "unended"


def test_a_zoom_end_too_large_for_a_float_is_ignored_not_a_failed_callback():
    from layouts.review import x_range

    # relayoutData is JSON from the browser: an integer with hundreds of digits parses, but float() overflows
    for bad in ({"xaxis.range[0]": 10**400, "xaxis.range[1]": 3}, {"xaxis.range": [0, 10**400]}):
        assert x_range(bad) is None, bad
