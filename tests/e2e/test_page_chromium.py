"""The live alert page in a real headless Chromium, against a running demo."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import missing_service
from tests.e2e.conftest import ServiceThread, wait_for_alerts

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]


def chromium_binary() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    missing_service("Chromium is not installed (apt-get install chromium)")
    raise AssertionError("unreachable")


def dump_dom(url: str, profile: Path, budget_ms: int = 4000) -> str:
    result = subprocess.run(
        [
            chromium_binary(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_page_lists_live_alerts(
    service_factory: Callable[..., ServiceThread], tmp_path: Path
) -> None:
    chromium_binary()
    svc = service_factory(broker_url=None, demo=True)
    alerts = wait_for_alerts(svc.url, {"drone", "handset"}, timeout_s=30)
    dom = dump_dom(svc.url + "/", tmp_path / "profile")
    for alert in alerts.values():
        assert alert["id"] in dom, f"alert {alert['id']} not rendered"
    assert "gsm_uplink" in dom
