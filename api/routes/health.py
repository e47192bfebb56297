"""Liveness, readiness and Prometheus metrics (no auth: probes and scrapers call them)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import HubDep, StreamsDep
from api.problems import ProblemError, problem_responses, problem_type

router = APIRouter(tags=["health"])

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/healthz", summary="Liveness: 200 while the process runs")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: 200 when the database (and broker, if any) answer",
    responses=problem_responses(503),
)
def readyz(hub: HubDep) -> dict[str, object]:
    # a plain def: the store ping is blocking I/O and runs in the threadpool
    checks = hub.ready()
    failing = {name: state for name, state in checks.items() if state != "ok"}
    if failing:
        raise ProblemError(
            503,
            "; ".join(f"{name}: {state}" for name, state in sorted(failing.items())),
            title="Not ready",
            type_=problem_type("not-ready"),
            checks=checks,
        )
    return {"status": "ok", "checks": checks}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=PlainTextResponse,
    responses={200: {"content": {PROMETHEUS_TEXT: {}}}},
)
async def metrics(hub: HubDep, streams: StreamsDep) -> PlainTextResponse:
    # async: the subscriber count and last event id belong to the event loop
    extra = [
        "# HELP sensorhub_stream_subscribers Live event subscriptions (SSE, WebSocket, others)",
        "# TYPE sensorhub_stream_subscribers gauge",
        f"sensorhub_stream_subscribers {hub.events.subscriber_count}",
        "# HELP sensorhub_api_streams_open Open SSE and WebSocket streams of this API",
        "# TYPE sensorhub_api_streams_open gauge",
        f"sensorhub_api_streams_open {streams.open_count}",
        "# HELP sensorhub_last_event_id Id of the newest live event",
        "# TYPE sensorhub_last_event_id gauge",
        f"sensorhub_last_event_id {hub.events.last_id}",
    ]
    text = hub.metrics.render() + "\n".join(extra) + "\n"
    return PlainTextResponse(text, media_type=PROMETHEUS_TEXT)
