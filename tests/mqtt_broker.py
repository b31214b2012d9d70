"""A real Mosquitto broker on a free loopback port, for the MQTT tests and the benchmark."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
SKIP_REASON = "mosquitto is not installed (apt-get install mosquitto): the MQTT tests need a real broker"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """``mosquitto -c`` with a minimal config: one loopback listener, anonymous unless a password file is given."""

    def __init__(self, workdir: Path, password_file: Path | None = None, acl_file: Path | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = "127.0.0.1"
        self.url = f"mqtt://{self.host}:{self.port}"
        lines = [f"listener {self.port} 127.0.0.1"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            lines.append("user root")  # else it drops to "mosquitto", who cannot read pytest's private tmp dirs
        if password_file is None:
            lines.append("allow_anonymous true")
        else:
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        if acl_file is not None:
            lines.append(f"acl_file {acl_file}")
        self.conf = self.workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None
        self.log = self.workdir / "mosquitto.log"

    def start(self, timeout: float = 10.0) -> Broker:
        assert MOSQUITTO, SKIP_REASON
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: {self.log.read_text()}")
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log.read_text()}")

    def kill(self) -> None:
        """Kill the broker outright (no clean shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()


def make_password_file(path: Path, users: dict[str, str]) -> Path:
    """A Mosquitto password file made with ``mosquitto_passwd`` (hashed)."""
    passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    path.write_text("")
    for user, password in users.items():
        subprocess.run([passwd, "-b", str(path), user, password], check=True, capture_output=True)
    path.chmod(0o600)
    return path


@pytest.fixture(autouse=True)
def site_key_home(tmp_path, monkeypatch) -> Path:
    """Kapmon's data directory (where the default site key is made for a loopback broker) inside the test's
    temporary directory; imported by the MQTT test modules."""
    home = tmp_path / "kapmon-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home / "kapmon"


class Collector:
    """A plain client of the broker (no kapmon code): keeps every message on kapmon/#, and publishes anything,
    as a hostile peer on the clinic network would."""

    def __init__(self, b: Broker) -> None:
        import paho.mqtt.client as paho

        self.messages: list = []
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"collector-{os.urandom(3).hex()}")
        self.client.on_message = lambda _c, _u, m: self.messages.append(m)
        self.client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe("kapmon/#", qos=1)
        self.client.connect(b.host, b.port)
        self.client.loop_start()

    def on(self, suffix: str) -> list:
        return [m for m in list(self.messages) if m.topic.endswith(suffix)]

    def publish(self, topic: str, payload: bytes | dict, retain: bool = False) -> None:
        """Publish raw bytes (or a dict as JSON) and wait until the broker has it."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(topic, data, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(predicate, timeout: float, what: str, every: float = 0.05):
    """The first true value of ``predicate()`` within ``timeout`` seconds, or AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
