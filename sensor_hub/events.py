"""Live event fan-out: numbering, a bounded history for resume, one queue per subscriber.

Runs on the event loop only. A subscriber that falls `queue_size` events behind
is cut off (its iterator ends) rather than letting memory grow; the client
reconnects with its last event id and resumes from the history or the store.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from sensor_hub.schemas import Alert, Event, EventType, Sensor

#: fetches events with id > after from durable storage (for resumes older than the history)
HistoryLoader = Callable[[int], list[Event]]


class EventBus:
    def __init__(
        self,
        *,
        first_id: int = 1,
        history: int = 1000,
        queue_size: int = 1000,
        loader: HistoryLoader | None = None,
    ) -> None:
        self._next_id = first_id
        self._history: deque[Event] = deque(maxlen=history)
        self._subscribers: set[asyncio.Queue[Event | None]] = set()
        self._queue_size = queue_size
        self._loader = loader

    @property
    def last_id(self) -> int:
        return self._next_id - 1

    def make(
        self,
        type_: EventType,
        site: str,
        at: datetime,
        *,
        alert: Alert | None = None,
        sensor: Sensor | None = None,
    ) -> Event:
        event = Event(id=self._next_id, type=type_, site=site, at=at, alert=alert, sensor=sensor)
        self._next_id += 1
        return event

    def publish(self, event: Event) -> None:
        self._history.append(event)
        for queue in list(self._subscribers):
            if queue.qsize() >= self._queue_size:
                # too slow: end its stream; it resumes from its last id
                self._subscribers.discard(queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(event)

    def backlog(self, after: int) -> list[Event]:
        """Events with id > after that a resuming client missed."""
        if after >= self.last_id:
            return []
        if self._history and self._history[0].id <= after + 1:
            return [e for e in self._history if e.id > after]
        if self._loader is not None:
            return self._loader(after)
        return list(self._history)

    async def subscribe(self, after: int | None = None) -> AsyncIterator[Event]:
        """Yield events with id > after (all live events if after is None), then live ones."""
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._subscribers.add(queue)
        try:
            # an id from the future (e.g. kept across a database reset) means "from now"
            last = self.last_id if after is None else min(after, self.last_id)
            for event in self.backlog(last):
                last = event.id
                yield event
            while True:
                item = await queue.get()
                if item is None:
                    return
                if item.id > last:
                    last = item.id
                    yield item
        finally:
            self._subscribers.discard(queue)

    def close(self) -> None:
        for queue in list(self._subscribers):
            queue.put_nowait(None)
        self._subscribers.clear()

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)
