"""Protocol files: the shipped ones load, and every kind of bad file names its file, line and field."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

from monitor.cli.main import main
from devices.schema import toml_lines
from monitor.rules.protocol import ProtocolError, load, parse, shipped

SHIPPED = ("kap-iv", "kap-im", "kap-sublingual", "esketamine-intranasal")
KAP_IV = (resources.files("monitor.rules.protocols") / "kap-iv.toml").read_text(encoding="utf-8")


def line_of(text: str, needle: str, after: str = "") -> int:
    """1-based line of the first ``needle`` after the first ``after``."""
    start = text.index(after) if after else 0
    return text[: text.index(needle, start)].count("\n") + 1


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clinic.toml"
    path.write_text(text, encoding="utf-8")
    return path


def assert_error(tmp_path: Path, text: str, line: int, field: str, words: str, capsys: pytest.CaptureFixture) -> None:
    """Loading fails naming file, line and field, and ``kapmon protocol check`` exits nonzero saying the same."""
    path = write(tmp_path, text)
    with pytest.raises(ProtocolError) as info:
        load(path)
    message = str(info.value)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), line, field), message
    assert f"{path}:{line}: {field}" in message and words in message
    assert main(["protocol", "check", str(path)]) != 0
    assert f"{path}:{line}: {field}" in capsys.readouterr().err


def test_shipped_protocols_load_and_cover_each_route():
    assert set(SHIPPED) <= set(shipped())
    routes = {name: set(load(name).routes) for name in SHIPPED}
    assert routes == {"kap-iv": {"iv"}, "kap-im": {"im"}, "kap-sublingual": {"sublingual"}, "esketamine-intranasal": {"intranasal"}}


@pytest.mark.parametrize("name", SHIPPED)
def test_every_table_with_numbers_cites_a_source(name):
    data = tomllib.loads((resources.files("monitor.rules.protocols") / f"{name}.toml").read_text(encoding="utf-8"))

    def tables(node, where):
        if isinstance(node, dict):
            yield where, node
            for key, value in node.items():
                if isinstance(value, (dict, list)):
                    yield from tables(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from tables(value, f"{where}[{i}]")

    for where, table in tables(data, name):
        numbers = [k for k, v in table.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers and not where.endswith(("tighten", "delay", "max_quiet_s")):
            source = table.get("source", "")
            assert "clinical-reference" in source or "http" in source, (where, numbers)
            assert isinstance(table.get("verified"), bool), where


def test_esketamine_observes_two_hours_and_iv_takes_bp_at_40_min():
    assert load("esketamine-intranasal").routes["intranasal"].observation_min == 120
    (bp40,) = load("kap-iv").routes["iv"].checkpoints
    assert (bp40.id, bp40.after_dose_min) == ("bp_40min", 40)


def test_load_by_path_is_the_same_as_by_name(tmp_path):
    assert load(write(tmp_path, KAP_IV)).limits == load("kap-iv").limits


def test_toml_lines_locates_array_tables_and_inline_fields():
    lines = toml_lines('[protocol]\nname = "x"\n\n[[limit]]\nid = "a"\n[[limit]]\nid = "b"\ndelay_s = 3\n[route.iv]\ndose = "d"\n')
    assert lines["protocol.name"] == 2
    assert lines["limit[1]"] == 6 and lines["limit[1].delay_s"] == 8
    assert lines["route.iv.dose"] == 10


def test_syntax_error(tmp_path, capsys):
    text = KAP_IV.replace("delay_s = 15", "delay_s = = 15", 1)
    assert_error(tmp_path, text, line_of(text, "delay_s = = 15"), "delay_s", "TOML syntax error", capsys)


def test_unknown_field(tmp_path, capsys):
    text = KAP_IV.replace("delay_s = 15", "delay = 15", 1)
    assert_error(tmp_path, text, line_of(text, "delay = 15"), "limit[0].delay", "unknown field", capsys)


def test_missing_source(tmp_path, capsys):
    anchor = 'id = "spo2_critical"'
    start = KAP_IV.index(anchor)
    source_at = KAP_IV.index("source = ", start)
    end = KAP_IV.index("\n", source_at) + 1
    text = KAP_IV[:source_at] + KAP_IV[end:]
    assert_error(tmp_path, text, line_of(text, "[[limit]]", after='escalate_to = "high"'), "limit[1].source", "missing required field", capsys)


def test_empty_source(tmp_path, capsys):
    text = KAP_IV.replace('source = "clinical-reference §6.2, §7: LIFEPAK-15', 'source = "  "\n#', 1)
    assert_error(tmp_path, text, line_of(text, 'source = "  "'), "limit[1].source", "where the numbers come from", capsys)


def test_limit_out_of_physical_range(tmp_path, capsys):
    text = KAP_IV.replace("below = 85", "below = 185", 1)
    assert_error(tmp_path, text, line_of(text, "below = 185"), "limit[1].below", "outside the physical range of spo2", capsys)


def test_contradictory_limits(tmp_path, capsys):
    text = KAP_IV.replace('vital = "pr"\nbelow = 50', 'vital = "pr"\nbelow = 130', 1)
    assert_error(tmp_path, text, line_of(text, "below = 130"), "limit[2].below", "contradictory limits", capsys)


def test_screening_may_not_loosen_a_limit(tmp_path, capsys):
    text = KAP_IV.replace("tighten = { spo2_low = 92 }", "tighten = { spo2_low = 88 }", 1)
    field = f"screening[{_screening_index('cns_depressant')}].tighten.spo2_low"
    assert_error(tmp_path, text, line_of(text, "spo2_low = 88"), field, "loosens", capsys)


def test_screening_may_not_lengthen_a_delay(tmp_path, capsys):
    text = KAP_IV.replace("delay = { spo2_low = 5 }", "delay = { spo2_low = 60 }", 1)
    field = f"screening[{_screening_index('cns_depressant')}].delay.spo2_low"
    assert_error(tmp_path, text, line_of(text, "spo2_low = 60"), field, "longer", capsys)


def test_nibp_limit_with_a_delay(tmp_path, capsys):
    anchor = 'id = "sbp_critical"'
    at = KAP_IV.index("delay_s = 0", KAP_IV.index(anchor))
    text = KAP_IV[:at] + "delay_s = 30" + KAP_IV[at + len("delay_s = 0"):]
    assert_error(tmp_path, text, line_of(text, "delay_s = 30"), f"limit[{_limit_index('sbp_critical')}].delay_s", "discrete reading", capsys)


def test_wrong_type(tmp_path, capsys):
    text = KAP_IV.replace('priority = "medium"', "priority = 2", 1)
    assert_error(tmp_path, text, line_of(text, "priority = 2"), "limit[0].priority", "must be str", capsys)


def test_escalation_must_raise_priority(tmp_path, capsys):
    text = KAP_IV.replace('escalate_to = "high"', 'escalate_to = "low"', 1)
    assert_error(tmp_path, text, line_of(text, 'escalate_to = "low"'), "limit[0].escalate_to", "higher priority", capsys)


def test_missing_table(tmp_path, capsys):
    start = KAP_IV.index("[audio]")
    text = KAP_IV[:start] + KAP_IV[KAP_IV.index("[baseline]"):]
    assert_error(tmp_path, text, 1, "audio", "missing required field", capsys)


def test_unknown_vital(tmp_path, capsys):
    text = KAP_IV.replace('vital = "spo2"', 'vital = "sp02"', 1)
    assert_error(tmp_path, text, line_of(text, 'vital = "sp02"'), "limit[0].vital", "unknown vital", capsys)


def test_missing_file_and_unknown_name():
    with pytest.raises(ProtocolError, match="no such protocol"):
        load("kap-nope")


def test_check_prints_the_plan_for_a_sample_screening(capsys):
    assert main(["protocol", "check", "kap-iv"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK kap-iv.toml")
    assert "Dosing: clear to dose" in out and "spo2_low: spo2 < 90 for 15 s -> medium" in out


def test_check_with_a_screening_file(tmp_path, capsys):
    screening = tmp_path / "s.json"
    screening.write_text('{"age": 70, "pregnancy": true}', encoding="utf-8")
    assert main(["protocol", "check", "kap-im", "--screening", str(screening)]) == 0
    out = capsys.readouterr().out
    assert "Dosing: BLOCKED" in out and "BLOCK pregnancy" in out and "NIBP every 3 min" in out


def test_list(capsys):
    assert main(["protocol", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SHIPPED)


def test_parse_without_a_file_names_the_text():
    with pytest.raises(ProtocolError, match=r"^<protocol>:1: \(syntax\)|^<protocol>:1: protocol"):
        parse("[protocol\n")


def _screening_index(item_id: str) -> int:
    return [s.id for s in load("kap-iv").screening].index(item_id)


def _limit_index(limit_id: str) -> int:
    return [lim.id for lim in load("kap-iv").limits].index(limit_id)
