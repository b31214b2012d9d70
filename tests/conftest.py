"""Shared fixtures. Browser tests use dash's ``dash_duo`` with Debian's headless Chromium."""

from __future__ import annotations

import shutil

import pytest


def pytest_setup_options():
    """Chromium flags for running headless as root on a machine with no network."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    if shutil.which("chromium"):
        options.binary_location = shutil.which("chromium")
    return options


def pytest_collection_modifyitems(config, items):
    """Browser tests need chromium and chromedriver; say so plainly rather than erroring deep inside."""
    if shutil.which("chromedriver") and shutil.which("chromium"):
        return
    for item in items:
        if "dash_duo" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason="chromium and chromedriver are not installed"))
