"""Test doubles shipped with the package: a settable clock and an in-memory bus."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class PublishedMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass
class InMemoryBus:
    """Records what the hub publishes (implements the `hub.Bus` port)."""

    published: list[PublishedMessage] = field(default_factory=list)

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.published.append(PublishedMessage(topic, payload, qos, retain))
