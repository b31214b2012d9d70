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


FOLDERS = ("unit", "integration", "browser", "clinical")  # each folder's tests carry its marker


def pytest_collection_modifyitems(config, items):
    """Mark each test by its folder (``-m unit``, ``-m "not browser"``...). Browser tests need chromium and
    chromedriver; say so plainly rather than erroring deep inside."""
    browsers = bool(shutil.which("chromedriver") and shutil.which("chromium"))
    for item in items:
        folder = item.path.parent.name
        if folder in FOLDERS:
            item.add_marker(getattr(pytest.mark, folder))
        if not browsers and "dash_duo" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason="chromium and chromedriver are not installed"))


@pytest.fixture
def store(tmp_path):
    """An empty store in the test's own folder (a test that needs a recorded session builds it on this)."""
    from monitor.session.store import Store

    return Store(tmp_path / "k.db")
