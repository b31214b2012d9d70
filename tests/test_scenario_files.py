"""The simulator's scenarios are data files: each ships, loads and is checked; a bad file is refused naming the
file and the field."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

from devices.errors import KapmonError
from devices.virtual.scenarios import SCENARIOS, ScenarioError, load_scenario, parse
from devices.vocabulary import DRUGS, ROUTES

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "devices" / "virtual" / "scenarios"
GOOD = (FOLDER / "typical_im.toml").read_text(encoding="utf-8")


def test_every_file_is_a_scenario_named_for_its_file():
    assert sorted(SCENARIOS) == sorted(p.stem for p in FOLDER.glob("*.toml"))
    assert len(SCENARIOS) == 7
    for name, sc in SCENARIOS.items():
        assert sc.name == name and sc.route in ROUTES and sc.drug in DRUGS
        assert all(d.route in ROUTES and d.drug in DRUGS for d in sc.doses)


def test_the_files_ship_with_the_package():
    assert "devices.virtual.scenarios" in find_packages(str(ROOT), include=["devices*"])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "*.toml" in pyproject["tool"]["setuptools"]["package-data"]["*"]


def test_a_file_loads_from_a_path(tmp_path):
    path = tmp_path / "my_case.toml"
    path.write_text(GOOD.replace("SIM-TIM-01", "SIM-MINE"))
    sc = load_scenario(path)
    assert sc.name == "my_case" and sc.pseudonym == "SIM-MINE"
    assert sc.doses == SCENARIOS["typical_im"].doses and sc.screening == SCENARIOS["typical_im"].screening


def test_numbers_may_be_written_as_integers():
    sc = parse(GOOD.replace("dose_mg = 60.0", "dose_mg = 60"), "x.toml")
    assert sc.dose_mg == 60.0 and isinstance(sc.dose_mg, float)


@pytest.mark.parametrize(("change", "field", "why"), [
    (("dose_mg = 60.0", "dose_mg = \"60\""), "dose_mg", "not a number"),
    (("dose_mg = 60.0", "dose_mg = true"), "dose_mg", "not a number"),
    (("age = 35", "age = 35.5"), "age", "not a whole number"),
    (("dose_mg = 60.0", "dose_mgs = 60.0"), "dose_mgs", "did you mean 'dose_mg'"),
    (("dose_mg = 60.0\n", ""), "dose_mg", "missing"),
    (('route = "im"', 'route = "subcutaneous"'), "route", "'subcutaneous' is not one of iv, im"),
    (('drug = "ketamine"', 'drug = "propofol"'), "drug", "'propofol' is not one of"),
    (("[[dose]]\nt = 600.0", "[[dose]]\nroute = \"nasal\"\nt = 600.0"), "dose[0].route", "'nasal' is not one of"),
    (("[[dose]]\nt = 600.0\n", "[[dose]]\n"), "dose[0].t", "missing"),
    (('kind = "motion"', 'kind = "sneeze"'), "episode[0].kind", "'sneeze' is not one of"),
    (("duration = 15.0", "duration = 15.0\nramp_in = 20.0"), "episode[0]", "ramps longer than the episode"),
    (('text = "pre-dose baseline"\n', ""), "event[0].text", "missing"),
    (("nibp_interval_s = 300.0", "nibp_interval_s = 300.0\nextra_nibp = 480.0"), "extra_nibp", "a list of numbers"),
    (("nibp_interval_s = 300.0", "nibp_interval_s = 300.0\nextra_nibp = [480.0, \"x\"]"), "extra_nibp[1]", "not a number"),
    (("[[dose]]", "[screening]\npsychossis = true\n\n[[dose]]"), "screening.psychossis", "did you mean 'psychosis'"),
    (("[[dose]]", "[screening]\npsychosis = \"maybe\"\n\n[[dose]]"), "screening.psychosis", "not yes or no"),
    (('sex = "M"', 'sex = "M'), "(syntax)", "TOML syntax error"),
])
def test_a_bad_file_names_the_file_and_the_field(change, field, why):
    old, new = change
    assert old in GOOD
    with pytest.raises(ScenarioError) as caught:
        parse(GOOD.replace(old, new, 1), "clinic/my_case.toml")
    message = str(caught.value)
    assert message.startswith("clinic/my_case.toml: field ") and f"field {field}" in message and why in message
    assert "\n" not in message


def test_a_table_written_as_a_value_is_refused():
    episode = '[[episode]]\nkind = "motion"\nt = 3000.0\nduration = 15.0\ntext = "patient shifts position"\n'
    assert episode in GOOD
    with pytest.raises(ScenarioError, match=r"field episode: must be \[\[episode\]\] tables"):
        parse("episode = 3\n" + GOOD.replace(episode, ""), "x.toml")


def test_a_scenario_without_doses_is_refused():
    text = GOOD.split("[[dose]]")[0] + "[[event]]" + GOOD.split("[[event]]", 1)[1]
    with pytest.raises(ScenarioError, match="no doses"):
        parse(text, "x.toml")


def test_a_missing_file_is_a_scenario_error(tmp_path):
    with pytest.raises(ScenarioError, match=r"missing\.toml: field \(file\)"):
        load_scenario(tmp_path / "missing.toml")
    assert issubclass(ScenarioError, KapmonError) and issubclass(ScenarioError, ValueError)
