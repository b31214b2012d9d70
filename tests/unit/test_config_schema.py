"""One schema mechanism for the four kinds of configuration: protocol files, screening answers, training
scenario files and recording sidecars. Each refusal is one line, ``<file>:<line>: <field>: <what>``, and
raised as a ConfigError (under the name its callers catch)."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest

from devices.errors import ConfigError, RecordingError
from devices.io.recording import read_metadata, read_recording, write_recording
from devices.schema import json_lines
from devices.screening import ScreeningError
from monitor.cli.alarms import read_screening
from monitor.rules.protocol import ProtocolError, load, shipped
from monitor.training.library import ScenarioFileError, library, load_scenario
from tests.helpers import ROOT

SAMPLES = ROOT / "sample_data"
KAP_IV = (resources.files("monitor.rules.protocols") / "kap-iv.toml").read_text(encoding="utf-8")
SCENARIO = '[scenario]\ntitle = "t"\nbase = "typical_iv"\nseed = 1\nduration_min = 30\n\n' \
           '[[expect]]\nid = "x"\nat_min = 5\nwithin_s = 60\nactions = ["note"]\nwhat = "write a note"\n'
SIDECAR = {"format": "kapmon-recording/1", "route": "iv", "drug": "ketamine", "seed": 1,
           "patient": {"pseudonym": "P-1", "age": 40, "weight_kg": 70},
           "screening": {"psychosis": False, "age": 40},
           "doses": [{"t": 60, "mg": 35}], "events": [{"t": 1, "kind": "note", "text": "settled"}]}


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def edited(path: Path, text: str, old: str, new: str) -> tuple[str, Path]:
    """``text`` with ``old`` replaced by ``new``, written to ``path``."""
    assert old in text
    text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return text, path


def refused(error: type[ConfigError], call, path: Path, line: int, field: str, words: str) -> None:
    """``call()`` raises ``error`` (a ConfigError) as one line naming file, line and field."""
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert isinstance(info.value, ConfigError) and "\n" not in message, message
    assert message.startswith(f"{path}:{line}: {field}: "), message
    assert words in message, message
    assert (info.value.path, info.value.line, info.value.field) == (str(path), line, field)


# ---------------------------------------------------------------- protocols

@pytest.mark.parametrize(("old", "new", "field", "words"), [
    ("delay_s = 15", "delay_z = 15", "limit[0].delay_z", "unknown field (did you mean 'delay_s'?)"),
    ("delay_s = 15", "colour = 15", "limit[0].colour", "unknown field (known: source, verified, id, vital"),
    ("hysteresis = 1\nescalate_after_s = 120", 'hysteresis = "one"\nescalate_after_s = 120', "limit[0].hysteresis",
     "must be float, got 'one'"),
    ("window_s = 120", "window_s = 0.5", "baseline.window_s", "must be >= 1, got 0.5"),
    ('reviewed_on = ""\n', "", "protocol.reviewed_on", "missing required field"),
])
def test_a_protocol_is_refused_naming_file_line_and_field(tmp_path, old, new, field, words):
    text, path = edited(tmp_path / "clinic.toml", KAP_IV, old, new)
    line = line_of(text, new.split("\n")[0]) if new else line_of(text, "[protocol]")
    refused(ProtocolError, lambda: load(path), path, line, field, words)


def test_every_shipped_protocol_loads():
    assert {"kap-iv", "kap-im", "kap-oral", "kap-sublingual", "esketamine-intranasal"} <= set(shipped())
    assert all(load(name).routes for name in shipped())


# ---------------------------------------------------------------- screening answers

@pytest.mark.parametrize(("answers", "field", "words"), [
    ({"psychosis": False, "psychossis": True}, "screening.psychossis", "did you mean 'psychosis'?"),
    ({"psychosis": False, "pregnancy": [True]}, "screening.pregnancy", "[True] is not yes or no"),
    ({"psychosis": False, "age": 300}, "screening.age", "300 is outside 0-130 years"),
    ({"psychosis": False, "hepatic_impairment": "mild"}, "screening.hepatic_impairment", "not one of none, moderate, severe"),
])
def test_screening_answers_are_refused_naming_file_line_and_field(tmp_path, answers, field, words):
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(answers, indent=2), encoding="utf-8")
    refused(ScreeningError, lambda: read_screening(path), path, 3, field, words)


def test_screening_inside_a_sidecar_file_is_located_on_its_own_line(tmp_path):
    path = tmp_path / "side.json"
    path.write_text(json.dumps({"format": "kapmon-recording/1", "screening": {"age": 40, "psychosis": "maybe"}}, indent=2))
    refused(ScreeningError, lambda: read_screening(path), path, 5, "screening.psychosis", "not yes or no")


def test_screening_has_no_required_answer_an_unanswered_one_stays_unanswered(tmp_path):
    path = tmp_path / "answers.json"
    path.write_text('{"psychosis": null, "pregnancy": "not answered"}', encoding="utf-8")
    assert read_screening(path) == {"psychosis": None, "pregnancy": None}


def test_a_shipped_sidecars_screening_loads():
    assert read_screening(SAMPLES / "typical_iv.json") == read_metadata(SAMPLES / "typical_iv.json")["screening"]


# ---------------------------------------------------------------- training scenarios

@pytest.mark.parametrize(("old", "new", "field", "words"), [
    ('seed = 1\n', 'seed = 1\ncolour = "red"\n', "scenario.colour", "unknown field (known: base,"),
    ("seed = 1", 'seed = "one"', "scenario.seed", "must be int, got 'one'"),
    ("duration_min = 30", "duration_min = -30", "scenario.duration_min", "must be > 0, got -30"),
    ("within_s = 60\n", "", "expect[0].within_s", "missing required field"),
])
def test_a_training_scenario_is_refused_naming_file_line_and_field(tmp_path, old, new, field, words):
    text, path = edited(tmp_path / "bad.toml", SCENARIO, old, new)
    needle = new.strip().split("\n")[-1] if new else "[[expect]]"
    refused(ScenarioFileError, lambda: load_scenario(path), path, line_of(text, needle), field, words)


def test_every_shipped_training_scenario_loads():
    assert len(library()) >= 9


# ---------------------------------------------------------------- recording sidecars

@pytest.mark.parametrize(("change", "needle", "field", "words"), [
    ({"colour": "red"}, '"colour"', "colour", "unknown field (known: format,"),
    ({"seed": "zero"}, '"seed"', "seed", "must be int, got 'zero'"),
    ({"patient": {"age": 131}}, '"age"', "patient.age", "must be an integer 0..130"),
    ({"doses": [{"t": 60, "mg": 35}, {"t": 1e300, "mg": 35}]}, '"t": 1e+300', "doses[1].t", "must be seconds from 0 to 14 days"),
    ({"doses": [{"t": 60}]}, '"t": 60', "doses[0].mg", "missing required field"),
])
def test_a_sidecar_is_refused_naming_file_line_and_field(tmp_path, change, needle, field, words):
    path = tmp_path / "rec.json"
    text = json.dumps(SIDECAR | change, indent=2)
    path.write_text(text, encoding="utf-8")
    line = line_of(text, needle) - (1 if field.startswith("doses[") and field.endswith("].mg") else 0)
    refused(RecordingError, lambda: read_metadata(path), path, line, field, words)


def test_a_sidecar_without_its_format_is_refused_at_its_first_line(tmp_path):
    path = tmp_path / "rec.json"
    path.write_text(json.dumps({k: v for k, v in SIDECAR.items() if k != "format"}, indent=2), encoding="utf-8")
    refused(RecordingError, lambda: read_metadata(path), path, 1, "format", "missing required field")


def test_every_shipped_sidecar_loads():
    sidecars = sorted(SAMPLES.glob("*.json"))
    assert len(sidecars) >= 4
    assert all(read_metadata(path)["format"] == "kapmon-recording/1" for path in sidecars)


def test_a_sidecar_written_and_read_back_is_unchanged(tmp_path):
    original = read_recording(SAMPLES / "typical_iv.csv")
    path = write_recording(tmp_path / "copy.csv", original.items, original.metadata)
    again = read_recording(path)
    assert again.metadata == original.metadata
    assert json.loads((tmp_path / "copy.json").read_text(encoding="utf-8")) == original.metadata
    written = write_recording(tmp_path / "mine.csv", original.items[:5], SIDECAR)
    assert read_metadata(written.with_suffix(".json")) == SIDECAR | {
        "doses": [{"t": 60, "route": "iv", "drug": "ketamine", "mg": 35, "end": None}]}


def test_json_lines_locate_nested_keys_and_list_items():
    lines = json_lines('{\n "a": 1,\n "b": {\n  "c": [\n   {"d": 2},\n   3\n  ]\n },\n "e": "x:{[,\\""\n}')
    assert lines == {"a": 2, "b": 3, "b.c": 4, "b.c[0]": 5, "b.c[0].d": 5, "b.c[1]": 6, "e": 9}
    assert json_lines("not json") == {}


def test_a_hostile_value_is_shown_short(tmp_path):
    path = tmp_path / "rec.json"
    path.write_text(json.dumps(SIDECAR | {"seed": "x" * 100_000}), encoding="utf-8")
    with pytest.raises(RecordingError) as info:
        read_metadata(path)
    assert len(str(info.value)) < len(str(path)) + 120 and re.search(r"seed: must be int, got 'x+\.\.\.$", str(info.value))


class CountingText(str):
    """A text that adds up how many characters its ``count`` scans."""

    scanned = 0

    def count(self, sub, start=0, end=None):
        stop = len(self) if end is None else end
        CountingText.scanned += max(0, stop - start)
        return super().count(sub, start, end)


def test_json_lines_reads_a_long_list_once_not_once_per_item():
    """A sidecar with tens of thousands of charted observations is located line by line in one pass (scanning
    from the start for each key made 50,000 observations take minutes)."""
    items = ",\n".join('  {"t": %d, "scale": "moaas", "level": 5}' % i for i in range(2000))
    text = CountingText('{\n "observations": [\n' + items + "\n ]\n}")
    CountingText.scanned = 0
    lines = json_lines(text)
    assert lines["observations[1999].level"] == 2002 and lines["observations[0]"] == 3
    assert CountingText.scanned <= len(text)
