"""Hostile review of protocol loading and of the summary's arithmetic: a protocol file that loads but
cannot work as written, and a time below 90 % that a clinician checking the numbers would not sign."""

from __future__ import annotations

from importlib import resources

import pytest

from devices.vocabulary import OK
from monitor.rules.protocol import ProtocolError, parse
from monitor.session.store import StoredReading
from monitor.analysis.summary import time_below

KAP_IV = (resources.files("monitor.rules.protocols") / "kap-iv.toml").read_text(encoding="utf-8")


def edited(old: str, new: str) -> str:
    assert old in KAP_IV, old
    return KAP_IV.replace(old, new, 1)


NONSENSE = [
    pytest.param(edited('vital = "spo2"\nlow = 30', 'vital = "spo2"\nlow = 88'), id="plausible-spo2-above-the-critical-limit"),
    pytest.param(edited('vital = "sbp"\nlow = 40\nhigh = 270', 'vital = "sbp"\nlow = 40\nhigh = 170'), id="plausible-sbp-below-the-critical-limit"),
    pytest.param(edited("signal_loss_max_s = 15", "signal_loss_max_s = 120"), id="signal-loss-longer-than-its-window"),
    pytest.param(edited('below = 90\npriority = "medium"\ndelay_s = 15\nhysteresis = 1',
                        'below = 90\npriority = "medium"\ndelay_s = 15\nhysteresis = 20'), id="hysteresis-that-never-recovers"),
    pytest.param(edited("spo2_above = 92", "spo2_above = 100"), id="discharge-spo2-above-100"),
]


@pytest.mark.parametrize("text", NONSENSE)
def test_a_protocol_that_cannot_work_as_written_does_not_load(text):
    with pytest.raises(ProtocolError):
        parse(text, "clinic.toml")


def spo2(t: float, value: float) -> StoredReading:
    return StoredReading(0, t, "spo2", value, "%", "ox", OK)


def test_time_below_90_counts_a_desaturation_sampled_more_sparsely_than_the_rest():
    readings = [spo2(t, 97) for t in range(600)]
    readings += [spo2(t, 88) for t in range(600, 780, 6)]
    readings += [spo2(t, 97) for t in range(780, 1200)]
    assert time_below(readings, "spo2", 90.0) == pytest.approx(180, abs=6)
