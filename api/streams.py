"""Live event streams (SSE and WebSocket) over the hub's `EventBus`.

Each open stream is one bus subscription plus a keep-alive timer and the app's
"closing" flag. A server waits for open responses before it runs the app's
shutdown, so an endless stream would hold the server up forever: whoever
stops the server calls `LiveStreams.close()` first (see `api.app.close_live_streams`),
which ends every stream; the hub stopping (its bus closing) ends them too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

from sensor_hub.events import EventBus
from sensor_hub.schemas import Event

DEFAULT_KEEPALIVE_S = 15.0


async def _next_event(subscription: AsyncIterator[Event]) -> Event:
    return await anext(subscription)


class LiveStreams:
    """The open live streams of one app. Use on the event loop only."""

    def __init__(self, bus: EventBus, *, keepalive_s: float = DEFAULT_KEEPALIVE_S) -> None:
        self._bus = bus
        self.keepalive_s = keepalive_s
        self._closing = asyncio.Event()
        self._open = 0

    @property
    def open_count(self) -> int:
        return self._open

    def resume_point(self, after: int | None) -> int | None:
        """`after` clamped to the newest event id.

        A client may hold an id from before the database was reset; resuming
        "after 500" on a hub whose last id is 3 would otherwise stay silent
        until event 501.
        """
        return None if after is None else min(after, self._bus.last_id)

    def close(self) -> None:
        """End every open stream and refuse new ones (server shutdown)."""
        self._closing.set()

    async def open(self, after: int | None) -> AsyncGenerator[Event | None, None]:
        """Events with id > after (live only if None); None every keepalive_s of silence.

        Ends when `close()` is called, when the bus ends the subscription (hub
        stopped, or this client fell too far behind: it resumes from its last
        id), or when the consumer stops iterating.
        """
        if self._closing.is_set():
            return
        subscription = self._bus.subscribe(self.resume_point(after))
        # the bus subscription is advanced in a task so that it can be raced against
        # the keep-alive timer and the closing flag without cancelling (ending) it
        getter = asyncio.ensure_future(_next_event(subscription))
        closing = asyncio.ensure_future(self._closing.wait())
        self._open += 1
        try:
            while True:
                done, _ = await asyncio.wait(
                    {getter, closing},
                    timeout=self.keepalive_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if getter in done:
                    try:
                        event = getter.result()
                    except StopAsyncIteration:
                        return
                    yield event
                    getter = asyncio.ensure_future(_next_event(subscription))
                elif closing in done:
                    return
                else:
                    yield None
        finally:
            self._open -= 1
            closing.cancel()
            if getter.done():
                if not getter.cancelled():
                    getter.exception()  # retrieved: no "exception was never retrieved"
                if isinstance(subscription, AsyncGenerator):
                    # suspended at its yield: closing runs its cleanup without awaiting anything
                    await subscription.aclose()
            else:
                # cancelling the pending step unwinds the subscription (it unsubscribes)
                getter.cancel()
