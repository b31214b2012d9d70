"""The simulator's scenarios are data files: each ships, loads and is checked; a bad file is refused in the one
configuration error style, ``<file>:<line>: <field.path>: <what is wrong>``."""

from __future__ import annotations

import pickle
import tomllib
from pathlib import Path

import pytest
from setuptools import find_packages

from devices.errors import ConfigError, KapmonError
from devices.virtual.scenarios import SCENARIOS, ScenarioError, load_scenario, parse
from devices.vocabulary import DRUGS, ROUTES
from tests.helpers import ROOT

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


def line_of(text: str, marker: str | None) -> int:
    """The 1-based line of the first line starting with ``marker`` (1 for None: a field that is missing)."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(marker)) if marker else 1


# (old, new): the edit; the field at fault, the line it is on (by what the line starts with) and the reason.
@pytest.mark.parametrize(("change", "field", "at", "why"), [
    (("dose_mg = 60.0", "dose_mg = \"60\""), "dose_mg", "dose_mg", "must be float, got '60'"),
    (("dose_mg = 60.0", "dose_mg = true"), "dose_mg", "dose_mg", "must be float, got True"),
    (("dose_mg = 60.0", "dose_mg = nan"), "dose_mg", "dose_mg", "must be a finite number, got nan"),
    (("age = 35", "age = 35.5"), "age", "age", "must be int, got 35.5"),
    (("age = 35", "age = 350"), "age", "age", "must be <= 130, got 350"),
    (("weight_kg = 80.0", "weight_kg = 0.8"), "weight_kg", "weight_kg", "weight 0.8 kg is not plausible"),
    (("dose_mg = 60.0", "dose_mg = -60.0"), "dose_mg", "dose_mg", "-60 mg is not a dose"),
    (("t = 600.0\nmg = 60.0", "t = 600.0\nmg = 0.0"), "dose[0].mg", "mg = 0.0", "0 mg is not a dose"),
    (("dose_mg = 60.0", "dose_mgs = 60.0"), "dose_mgs", "dose_mgs", "unknown field (did you mean 'dose_mg'?)"),
    (("t = 600.0\nmg =", "t = 600.0\nmgs ="), "dose[0].mgs", "mgs", "unknown field (did you mean 'mg'?)"),
    (("[[dose]]\nt = 600.0", "[[dose]]\ncolour = 1\nt = 600.0"), "dose[0].colour", "colour",
     "unknown field (known: t, mg, route, drug, end)"),
    (("dose_mg = 60.0\n", ""), "dose_mg", None, "missing required field"),
    (('sex = "M"', 'sex = "M"\nbaseline.sbp = 120.0'), "baseline", "baseline.sbp", "did you mean 'baseline_pi'?"),
    (('route = "im"', 'route = "subcutaneous"'), "route", "route",
     "must be one of iv, im, sublingual, oral, intranasal, got 'subcutaneous'"),
    (('drug = "ketamine"', 'drug = "propofol"'), "drug", "drug", "must be one of ketamine, esketamine, got 'propofol'"),
    (("[[dose]]\nt = 600.0", "[[dose]]\nroute = \"nasal\"\nt = 600.0"), "dose[0].route",
     "route = \"nasal\"", "got 'nasal'"),
    (("[[dose]]\nt = 600.0", "[[dose]]\ndrug = \"propofol\"\nt = 600.0"), "dose[0].drug",
     "drug = \"propofol\"", "got 'propofol'"),
    (("[[dose]]\nt = 600.0\n", "[[dose]]\n"), "dose[0].t", "[[dose]]", "missing required field"),
    (('kind = "motion"', 'kind = "sneeze"'), "episode[0].kind", 'kind = "sneeze"',
     "must be one of probe_off, motion, physiology, got 'sneeze'"),
    (("duration = 15.0", "duration = 15.0\nramp_in = 20.0"), "episode[0]", "[[episode]]", "ramps longer than the episode"),
    (('text = "pre-dose baseline"\n', ""), "event[0].text", "[[event]]", "missing required field"),
    (("nibp_interval_s = 300.0", "nibp_interval_s = 300.0\nextra_nibp = 480.0"), "extra_nibp", "extra_nibp",
     "must be list, got 480.0"),
    (("nibp_interval_s = 300.0", "nibp_interval_s = 300.0\nextra_nibp = [480.0, \"x\"]"), "extra_nibp[1]", "extra_nibp",
     "must be float, got 'x'"),
    (("[[dose]]", "[screening]\npsychossis = true\n\n[[dose]]"), "screening.psychossis", "psychossis",
     "did you mean 'psychosis'"),
    (("[[dose]]", "[screening]\npsychosis = \"maybe\"\n\n[[dose]]"), "screening.psychosis", "psychosis", "not yes or no"),
    (("[[dose]]", "[screening]\nage = 500\n\n[[dose]]"), "screening.age", "age = 500", "500 is outside 0-130 years"),
    (("[[dose]]", "screening = 3\n[[dose]]"), "screening", "screening", "must be an object of answers"),
    (('sex = "M"', 'sex = "M'), "sex", "sex", "TOML syntax error"),
])
def test_a_bad_file_names_the_file_the_line_and_the_field(change, field, at, why):
    old, new = change
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    with pytest.raises(ScenarioError) as caught:
        parse(text, "clinic/my_case.toml")
    line = line_of(text, at)
    message = str(caught.value)
    assert message.startswith(f"clinic/my_case.toml:{line}: {field}: ") and why in message, message
    assert (caught.value.path, caught.value.line, caught.value.field) == ("clinic/my_case.toml", line, field)
    assert "\n" not in message


def test_a_table_written_as_a_value_is_refused():
    episode = '[[episode]]\nkind = "motion"\nt = 3000.0\nduration = 15.0\ntext = "patient shifts position"\n'
    assert episode in GOOD
    with pytest.raises(ScenarioError, match=r"^x\.toml:1: episode: must be list, got 3$"):
        parse("episode = 3\n" + GOOD.replace(episode, ""), "x.toml")


def test_a_scenario_without_doses_is_refused():
    text = GOOD.split("[[dose]]")[0] + "[[event]]" + GOOD.split("[[event]]", 1)[1]
    with pytest.raises(ScenarioError, match=r"^x\.toml:1: dose: no doses"):
        parse(text, "x.toml")


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ScenarioError, match=r"missing\.toml: \(file\): cannot read"):
        load_scenario(tmp_path / "missing.toml")
    assert issubclass(ScenarioError, ConfigError) and issubclass(ScenarioError, KapmonError)
    assert issubclass(ScenarioError, ValueError)


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes(GOOD.replace("SIM-TIM-01", "SIM-\xe9").encode("latin-1"))
    with pytest.raises(ScenarioError, match=r"latin\.toml: \(file\): not UTF-8 text"):
        load_scenario(path)


def test_the_error_survives_pickling():
    with pytest.raises(ScenarioError) as caught:
        parse(GOOD.replace("dose_mg = 60.0", "dose_mgs = 60.0"), "x.toml")
    again = pickle.loads(pickle.dumps(caught.value))
    assert type(again) is ScenarioError and str(again) == str(caught.value) and again.line == 8
