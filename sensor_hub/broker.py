"""Embedded amqtt broker for the one-command demo (MQTT 3.1.1 only, no offline queue).

Binds 127.0.0.1 only, on a free port unless one is given. It is the demo
default, not the production broker: use mosquitto or EMQX with `--broker`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from sensor_hub.errors import BrokerError

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedBroker:
    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        if host not in {"127.0.0.1", "localhost", "::1"}:
            raise BrokerError(f"the embedded broker binds loopback only, not {host!r}")
        self.host = host
        self.port = port or free_port(host)
        self._broker: Any = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    async def start(self) -> None:
        from amqtt.broker import Broker  # imported here: only the demo path needs it

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        # amqtt logs every packet and state change at INFO; keep the demo's console readable
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self._broker = Broker(config)
        try:
            await self._broker.start()
        except Exception as exc:  # amqtt raises its own and OSError; translate once here
            raise BrokerError(f"embedded broker failed to start on {self.url}: {exc}") from exc
        log.info("embedded MQTT broker (amqtt, MQTT 3.1.1) listening on %s", self.url)

    async def stop(self) -> None:
        if self._broker is not None:
            try:
                await asyncio.wait_for(self._broker.shutdown(), timeout=5)
            except Exception as exc:  # shutting down: report, never raise
                log.warning("embedded broker shutdown: %s", exc)
            self._broker = None
