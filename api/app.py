"""The FastAPI application factory: `create_app(hub)`; no import-time app or settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

import sensor_hub
from api.problems import install_problem_handlers
from api.routes import alerts, events, health, page, readings, sensors, site
from api.streams import DEFAULT_KEEPALIVE_S, LiveStreams
from sensor_hub.hub import Hub
from sensor_hub.schemas import FrameJSON

DESCRIPTION = """\
Detects drones and contraband handsets at secured perimeters from RF and
acoustic sensors.

* **Integrators** post sensor frames to `POST /v1/readings` (an SHF1 frame as
  `application/octet-stream`, or JSON with `samples_b64`) and pull alerts over
  REST, the live stream (`GET /v1/events`, Server-Sent Events, or `WS /v1/ws`)
  or MQTT.
* **Operators** list alerts, look at their detections and audit trail, and
  acknowledge or resolve them with a note.

Errors are `application/problem+json` (RFC 9457); rejected frames carry a
stable `reason` code (`bad_magic`, `payload_length`, `non_finite`, ...).
"""

TAGS = [
    {"name": "readings", "description": "Ingest sensor frames over HTTP."},
    {"name": "alerts", "description": "Alerts, their evidence and operator actions."},
    {"name": "sensors", "description": "Sensor registry: online state, last frame, rejects."},
    {"name": "site", "description": "Zones, cells, sensor positions, floor plan and rules."},
    {"name": "events", "description": "Live alert and sensor events, resumable by event id."},
    {"name": "health", "description": "Liveness, readiness and Prometheus metrics."},
]

#: models referenced by hand-written OpenAPI fragments (the two request body forms)
_EXTRA_SCHEMAS: tuple[type[BaseModel], ...] = (FrameJSON,)


def create_app(hub: Hub, *, keepalive_s: float = DEFAULT_KEEPALIVE_S) -> FastAPI:
    """The API over `hub`. Its lifespan starts the hub's background tasks and stops them.

    Whoever runs the server must call `close_live_streams(app)` before asking the
    server to stop: servers drain open responses before the lifespan shutdown,
    and live streams never end on their own.
    """
    streams = LiveStreams(hub.events, keepalive_s=keepalive_s)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await hub.start()
        try:
            yield
        finally:
            streams.close()
            await hub.stop()

    app = FastAPI(
        title="sensor-hub",
        summary="Drone and contraband-handset detection at secured perimeters",
        description=DESCRIPTION,
        version=sensor_hub.__version__,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.hub = hub
    app.state.streams = streams
    install_problem_handlers(app)
    for module in (readings, alerts, sensors, site, events, health, page):
        app.include_router(module.router)
    _add_extra_schemas(app)
    return app


def close_live_streams(app: FastAPI) -> None:
    """End every SSE / WebSocket stream of `app` (call on the loop, before stopping the server)."""
    streams: LiveStreams = app.state.streams
    streams.close()


def _add_extra_schemas(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in _EXTRA_SCHEMAS:
                js = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(js.pop("$defs", {}))
                components[model.__name__] = js
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
