"""The app under a real uvicorn server on a free port, in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

T = TypeVar("T")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals belong to pytest


class LiveServer:
    def __init__(self, app: FastAPI) -> None:
        self.server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self.server.serve())
        finally:
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
            self.loop.close()

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        return self

    def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run a coroutine on the server's loop (where the hub lives) and return its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(_await(fn), self.loop).result(10)

    def __exit__(self, *exc: Any) -> None:
        assert self.loop is not None
        from api.app import close_live_streams

        self.loop.call_soon_threadsafe(close_live_streams, self.server.config.app)
        self.server.should_exit = True
        self.thread.join(15)
        assert not self.thread.is_alive(), "server did not stop"


async def _await(fn: Callable[[], Awaitable[T]]) -> T:
    return await fn()
