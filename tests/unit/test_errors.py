"""Every exception kapmon defines derives from one root, KapmonError, and keeps the bases its callers catch."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from devices.errors import DeviceError, KapmonError
from tests.helpers import ROOT



def module_names() -> list[str]:
    out = []
    for pkg in ("devices", "monitor", "layouts"):
        for p in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(p.relative_to(ROOT).with_suffix("").parts)
            out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def defined_exceptions() -> list[type[BaseException]]:
    """Every exception class defined (not merely imported) in a module of devices/, monitor/ or layouts/."""
    found = []
    for name in module_names():
        module = importlib.import_module(name)
        found += [c for _, c in inspect.getmembers(module, inspect.isclass)
                  if issubclass(c, BaseException) and c.__module__ == name]
    return found


def test_the_search_finds_exceptions_across_the_packages():
    names = {c.__name__ for c in defined_exceptions()}
    assert {"DecodeError", "ProtocolError", "StoreError", "MessageError", "UsersError", "Hl7Error"} <= names


@pytest.mark.parametrize("error", defined_exceptions(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_kapmon_exception_derives_from_kapmon_error(error):
    assert issubclass(error, KapmonError)


def test_errors_callers_catch_as_value_errors_still_are():
    from devices.screening import ScreeningError
    from monitor.central.topics import MessageError
    from monitor.rules.protocol import ProtocolError
    from monitor.training.library import ScenarioFileError

    for error in (ScreeningError, MessageError, ProtocolError, ScenarioFileError):
        assert issubclass(error, ValueError)
    assert issubclass(DeviceError, KapmonError) and not issubclass(DeviceError, ValueError)
