"""Wire the parts into one running process: broker (embedded or external), hub, API, demo.

`run` is what `sensor-hub serve` and `sensor-hub demo` call; tests call it too,
with port 0 and a stop event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn

from api.app import close_live_streams, create_app
from sensor_hub.broker import EmbeddedBroker
from sensor_hub.hub import Hub
from sensor_hub.mqtt import MqttAdapter
from sensor_hub.settings import SensorPlacement, Settings, SiteConfig
from sensor_hub.store import Store

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the CLI owns SIGINT/SIGTERM (one stop path)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Running:
    """Handles to a running service, handed to `on_ready` (used by tests and the CLI banner)."""

    hub: Hub
    api_url: str
    broker_url: str
    embedded_broker: bool


def site_config_of(scenario: Any, start_time_ns: int | None = None) -> SiteConfig:
    """The site configuration a simulator scenario describes: zones, cells, sensor
    placements, path-loss exponent, and its allow rules with their windows (scenario
    seconds) placed at `start_time_ns` (a rule with windows is dropped without it)."""
    allow = []
    for rule in scenario.allow:
        windows = rule.get("windows") or []
        if windows and start_time_ns is None:
            continue
        t0 = datetime.fromtimestamp((start_time_ns or 0) / 1e9, UTC)
        allow.append(
            {
                **rule,
                "windows": [
                    {"start": t0 + timedelta(seconds=w["start_s"]),
                     "end": t0 + timedelta(seconds=w["end_s"])}
                    for w in windows
                ],
            }
        )  # fmt: skip
    return SiteConfig.model_validate(
        {
            "site": scenario.site,
            "zones": {name: list(poly) for name, poly in scenario.zones.items()},
            "cells": {name: list(poly) for name, poly in scenario.cells.items()},
            "path_loss_exponent": scenario.path_loss_exponent,
            "allow": allow,
            "sensors": [
                SensorPlacement(
                    sensor_id=s.sensor_id,
                    modality=s.modality,
                    x_m=s.position[0],
                    y_m=s.position[1],
                    z_m=s.position[2],
                    zone=s.zone,
                )
                for s in scenario.sensors
            ],
        }
    )


def demo_site_settings(settings: Settings, site: str = "demo") -> tuple[Settings, object]:
    """Settings whose site configuration is the built-in demo scenario's, and that scenario."""
    from simulator.demo import demo_scenario

    scenario = demo_scenario(site=site)
    return settings.model_copy(update={"site": site_config_of(scenario)}), scenario


async def run(
    settings: Settings,
    *,
    demo: bool = False,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Running], Awaitable[None] | None] | None = None,
    demo_speed: float = 1.0,
) -> None:
    scenario = None
    if demo:
        settings, scenario = demo_site_settings(settings)
    broker: EmbeddedBroker | None = None
    broker_url = settings.broker_url
    protocol = settings.mqtt_protocol
    if broker_url is None:
        broker = EmbeddedBroker()
        await broker.start()
        broker_url = broker.url
        protocol = "3.1.1"
        log.info("no --broker given: started the embedded MQTT broker on %s", broker_url)
    elif protocol == "auto":
        protocol = "5"

    store = Store.open(settings.db_url)
    loop = asyncio.get_running_loop()
    hub = Hub(settings, store)
    adapter = MqttAdapter(
        broker_url,
        loop=loop,
        deliver=hub.deliver,
        metrics=hub.metrics,
        client_id=settings.mqtt_client_id,
        protocol=protocol,
        session_expiry_s=settings.mqtt_session_expiry_s,
        queue_size=settings.queue_size,
        share_group=settings.mqtt_share_group,
    )
    hub.attach(adapter, adapter.done)
    app = create_app(hub)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning", lifespan="on"
    )
    server = _Server(config)
    tasks: list[asyncio.Task[object]] = []
    collectors: MqttAdapter | None = None
    try:
        await adapter.start()
        tasks.append(asyncio.create_task(server.serve(), name="api"))
        while not server.started:
            if tasks[0].done():
                await tasks[0]  # surfaces a bind error
                raise RuntimeError("API server stopped during start-up")
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1] if server.servers else settings.port
        api_url = f"http://{settings.host}:{port}"
        if scenario is not None:
            from simulator.collectors import run_live

            collectors = MqttAdapter(
                broker_url,
                loop=loop,
                deliver=lambda m: None,
                metrics=hub.metrics,
                client_id=f"{settings.mqtt_client_id}-demo-collectors",
                protocol=protocol,
                subscriptions=[],
            )
            await collectors.start()
            tasks.append(
                asyncio.create_task(
                    run_live(scenario, collectors.publish, speed=demo_speed, loop=True),  # type: ignore[arg-type]
                    name="demo-scenario",
                )
            )
        if on_ready is not None:
            result = on_ready(Running(hub, api_url, broker_url, broker is not None))
            if asyncio.iscoroutine(result):
                await result
        waiters = [tasks[0]]
        if stop is not None:
            waiters.append(asyncio.create_task(stop.wait(), name="stop"))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        # uvicorn waits for open responses before shutting down: end live streams first
        close_live_streams(app)
        server.should_exit = True
        for task in tasks[1:]:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        if collectors is not None:
            await collectors.stop()
        await adapter.stop()
        store.close()
        if broker is not None:
            await broker.stop()
