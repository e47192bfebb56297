"""Shared fixtures: real services started per test session.

A missing service skips its tests with a reason on a developer's machine, but
under CI=true it is a failure (`.ci/run` installs what is needed).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def _find_shared_data() -> Path:
    """The real recordings kept beside the repository (../shared/data), wherever it is cloned."""
    candidates = [
        os.environ.get("SENSOR_HUB_SHARED_DATA", ""),
        str(Path(__file__).resolve().parents[2] / "shared" / "data"),
        "/work/shared/data",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "rf").is_dir():
            return Path(candidate)
    return Path(candidates[1])


#: real recordings for checks (not fitting); tests that need them skip when absent
SHARED_DATA = _find_shared_data()


def require_shared_data() -> None:
    """Skip a test whose real recordings (kept outside the repository) are not on this machine."""
    if not (SHARED_DATA / "rf").is_dir():
        pytest.skip(f"real recordings not found at {SHARED_DATA} (set SENSOR_HUB_SHARED_DATA)")


def missing_service(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required services must be present)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def _mosquitto_binary() -> str | None:
    for candidate in ("/usr/sbin/mosquitto", shutil.which("mosquitto")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


class Mosquitto:
    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = workdir / "mosquitto.conf"
        # the shipped production settings (docker/mosquitto.conf) plus a test listener
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "max_queued_messages 100000\n"
            "max_inflight_messages 100\n"
            "message_size_limit 16777216\n"
        )

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.workdir / "mosquitto.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=log, stderr=log)
        if not wait_port(self.port):
            self.stop()
            raise RuntimeError(f"mosquitto did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    binary = _mosquitto_binary()
    if binary is None:
        missing_service("mosquitto is not installed (apt-get install mosquitto)")
    assert binary is not None
    broker = Mosquitto(binary, tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()
