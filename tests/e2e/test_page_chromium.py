"""The live alert page in a real headless Chromium, against a running demo."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.cdp import Browser, chromium_binary
from tests.e2e.conftest import ServiceThread, wait_for_alerts

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    chromium_binary()  # skip (or fail under CI) before starting anything else
    b = Browser(tmp_path / "profile")
    yield b
    b.close()


def test_page_lists_live_alerts_and_acknowledges_one(
    service_factory: Callable[..., ServiceThread], browser: Browser
) -> None:
    svc = service_factory(broker_url=None, demo=True)
    alerts = wait_for_alerts(svc.url, {"drone", "handset"}, timeout_s=30)
    browser.navigate(svc.url + "/")
    for alert in alerts.values():
        browser.wait_for(f"!!document.getElementById('alert-{alert['id']}')")
    text = browser.evaluate("document.body.innerText")
    assert "gsm_uplink" in text and "cell-block-a" in text
    # the site map: the site's zones and sensors, and a ring where each located alert is
    site = httpx.get(f"{svc.url}/v1/site").json()
    browser.wait_for(
        f"document.querySelectorAll('#map polygon.zone').length === {len(site['zones'])}"
    )
    assert browser.evaluate("document.querySelectorAll('#map circle.sensor-dot').length") == len(
        site["sensors"]
    )
    for alert in alerts.values():
        if alert.get("location"):
            browser.wait_for(f"!!document.getElementById('where-{alert['id']}')")
    # clicking the drone row shows its evidence: a spectrogram and an audio player
    drone = alerts["drone"]["id"]
    browser.evaluate(f"document.querySelector('#alert-{drone} td').click(), true")
    browser.wait_for(
        "(document.querySelector('#evidence img')?.naturalWidth > 0"
        " && !!document.querySelector('#evidence audio'))"
        f" || (showEvidence('{drone}'), false)",
        timeout_s=30,
    )
    # click Ack on the handset alert, answer the note prompt, and watch the row update
    handset = alerts["handset"]["id"]
    browser.prompt_answer = "checked cell 14 on CCTV"
    browser.evaluate(f"document.querySelector('#alert-{handset} td.actions button').click(), true")
    browser.wait_for(
        f"(document.getElementById('alert-{handset}')?.innerText || '').includes('acknowledged')"
    )
    assert browser.dialogs and browser.dialogs[0]["type"] == "prompt"
    detail = httpx.get(f"{svc.url}/v1/alerts/{handset}").json()
    assert detail["alert"]["state"] == "acknowledged"
    assert detail["audit"][0]["note"] == "checked cell 14 on CCTV"
