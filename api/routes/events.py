"""Live events: Server-Sent Events (`GET /v1/events`) and WebSocket (`WS /v1/ws`).

Both send the same `Event` objects as MQTT `.../events`, resumable from an
event id: SSE by the `Last-Event-ID` header (browsers send it when they
reconnect) or `?after=`, WebSocket by `?after=`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import APIRouter, Header, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from starlette.types import Send

from api.deps import StreamsDep
from api.problems import ProblemError, problem_responses, problem_type
from sensor_hub.schemas import Event

router = APIRouter(tags=["events"])

After = Annotated[
    int | None,
    Query(ge=0, description="Resume after this event id (backlog first, then live)"),
]
#: how long a browser waits before reconnecting after the stream ends
_RETRY_MS = 3000


def sse_message(event: Event) -> str:
    return f"id: {event.id}\nevent: {event.type}\ndata: {event.model_dump_json()}\n\n"


async def _sse(stream: AsyncGenerator[Event | None, None]) -> AsyncGenerator[str, None]:
    async with contextlib.aclosing(stream):
        yield f"retry: {_RETRY_MS}\n\n"
        async for item in stream:
            # a comment keeps proxies from timing the connection out, and finds dead clients
            yield ": ping\n\n" if item is None else sse_message(item)


class EventStreamResponse(StreamingResponse):
    """A streaming response that closes its generator however the response ends.

    Starlette abandons the body iterator when the client goes away while a chunk
    is being sent; closing it here ends the bus subscription at once rather than
    whenever the generator is garbage-collected.
    """

    media_type = "text/event-stream"

    def __init__(self, stream: AsyncGenerator[str, None]) -> None:
        super().__init__(stream, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._stream = stream

    async def stream_response(self, send: Send) -> None:
        async with contextlib.aclosing(self._stream):
            await super().stream_response(send)


def _resume_from(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is None or not last_event_id.strip():
        return after
    try:
        value = int(last_event_id)
    except ValueError:
        value = -1
    if value < 0:
        raise ProblemError(
            400,
            f"Last-Event-ID {last_event_id[:40]!r} is not an event id of this hub",
            type_=problem_type("invalid-query"),
        )
    return value


@router.get(
    "/v1/events",
    summary="Live events (Server-Sent Events)",
    description=(
        "A `text/event-stream` of `Event`s: `id: <id>`, `event: <type>`, `data: <Event JSON>`. "
        "Resumes after the `Last-Event-ID` header (it wins) or `?after=`; without either, "
        "only new events are sent. A `: ping` comment is sent after 15 s of silence."
    ),
    response_class=EventStreamResponse,
    status_code=200,
    responses={
        200: {
            "description": "The event stream",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problem_responses(400, 422),
    },
)
async def stream_events(
    streams: StreamsDep,
    after: After = None,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> EventStreamResponse:
    start = _resume_from(last_event_id, after)
    return EventStreamResponse(_sse(streams.open(start)))


async def _send_events(websocket: WebSocket, stream: AsyncGenerator[Event | None, None]) -> None:
    async with contextlib.aclosing(stream):
        async for item in stream:
            if item is not None:  # the server's WebSocket pings keep the connection alive
                await websocket.send_text(item.model_dump_json())


async def _until_disconnect(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass  # clients have nothing to say; anything they send is ignored


@router.websocket("/v1/ws", name="events_ws")
async def events_ws(websocket: WebSocket, streams: StreamsDep, after: After = None) -> None:
    """The same events as `GET /v1/events`, one JSON text message each."""
    await websocket.accept()
    sender = asyncio.create_task(_send_events(websocket, streams.open(after)))
    listener = asyncio.create_task(_until_disconnect(websocket))
    try:
        done, _ = await asyncio.wait({sender, listener}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, listener):
            task.cancel()
        await asyncio.gather(sender, listener, return_exceptions=True)
    if sender not in done:
        return  # the client went away
    error = sender.exception()
    if error is not None and not isinstance(error, WebSocketDisconnect):
        raise error
    if error is None:
        # the stream ended on our side: server shutting down, hub stopped or client too slow
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.close(code=1001)
