"""Run the whole service (broker, hub, API, optionally the demo) in a background thread."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sensor_hub.service import Running, run
from sensor_hub.settings import Settings


class ServiceThread:
    def __init__(self, settings: Settings, *, demo: bool = False, demo_speed: float = 1.0) -> None:
        self.settings = settings
        self.demo = demo
        self.demo_speed = demo_speed
        self.ready = threading.Event()
        self.running: Running | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="service", daemon=True)
        self.started_at = 0.0

    def _main(self) -> None:
        try:
            asyncio.run(self._amain())
        except BaseException as exc:  # surfaced by close()
            self.error = exc
            self.ready.set()

    async def _amain(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        def on_ready(r: Running) -> None:
            self.running = r
            self.ready.set()

        await run(
            self.settings,
            demo=self.demo,
            stop=self._stop,
            on_ready=on_ready,
            demo_speed=self.demo_speed,
        )

    def start(self, timeout_s: float = 30.0) -> ServiceThread:
        self.started_at = time.monotonic()
        self._thread.start()
        if not self.ready.wait(timeout_s):
            raise TimeoutError("service did not become ready")
        if self.error is not None:
            raise self.error
        return self

    @property
    def url(self) -> str:
        assert self.running is not None
        return self.running.api_url

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the service loop (thread-safe access to the hub)."""
        assert self._loop is not None
        done = threading.Event()
        box: dict[str, Any] = {}

        def wrapper() -> None:
            box["value"] = fn()
            done.set()

        self._loop.call_soon_threadsafe(wrapper)
        done.wait(10)
        return box.get("value")

    def close(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "service did not stop within 30 s"
        if self.error is not None:
            raise self.error


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[Callable[..., ServiceThread]]:
    started: list[ServiceThread] = []

    def factory(*, broker_url: str | None, demo: bool = False, **settings: Any) -> ServiceThread:
        values: dict[str, Any] = {
            "db_url": f"sqlite:///{tmp_path / f'hub{len(started)}.db'}",
            "port": 0,
            "mqtt_client_id": f"sensor-hub-test-{len(started)}-{time.monotonic_ns()}",
        }
        values.update(settings)
        # a stopped hub's persistent session stays in its shared-subscription group (and is
        # handed its share of frames) until it expires: give each test hub its own group
        values.setdefault("mqtt_share_group", values["mqtt_client_id"])
        s = Settings(broker_url=broker_url, **values)
        svc = ServiceThread(s, demo=demo)
        started.append(svc)
        return svc.start()

    yield factory
    for svc in started:
        svc.close()


def wait_for_alerts(url: str, kinds: set[str], timeout_s: float) -> dict[str, dict[str, Any]]:
    """Poll GET /v1/alerts until an active alert of each kind exists."""
    deadline = time.monotonic() + timeout_s
    found: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=url, timeout=5) as client:
        while time.monotonic() < deadline:
            page = client.get("/v1/alerts", params={"state": ["active", "acknowledged"]}).json()
            found = {a["kind"]: a for a in page["items"]}
            if kinds <= set(found):
                return found
            time.sleep(0.25)
    raise AssertionError(
        f"alerts of kinds {kinds} not seen within {timeout_s} s; saw {sorted(found)}"
    )


def read_sse(
    url: str,
    *,
    after: int = 0,
    want: Callable[[list[dict[str, Any]]], bool],
    timeout_s: float = 20.0,
) -> list[dict[str, Any]]:
    """Read /v1/events from `after` until `want(events)` holds."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    headers = {"Last-Event-ID": str(after)}
    with (
        httpx.Client(base_url=url, timeout=httpx.Timeout(5, read=timeout_s)) as client,
        client.stream("GET", "/v1/events", headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[5:].strip()))
                if want(events):
                    return events
            if time.monotonic() > deadline:
                break
    raise AssertionError(
        f"SSE condition not met within {timeout_s} s; got {[e['type'] for e in events]}"
    )
