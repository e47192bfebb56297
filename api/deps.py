"""Dependencies as `Annotated` aliases: everything comes from `app.state`, nothing is global."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends
from starlette.requests import HTTPConnection

from api.streams import LiveStreams
from sensor_hub.hub import Hub
from sensor_hub.store import Store


def get_hub(conn: HTTPConnection) -> Hub:
    return cast(Hub, conn.app.state.hub)


HubDep = Annotated[Hub, Depends(get_hub)]


def get_store(hub: HubDep) -> Store:
    return hub.store


StoreDep = Annotated[Store, Depends(get_store)]


def get_streams(conn: HTTPConnection) -> LiveStreams:
    return cast(LiveStreams, conn.app.state.streams)


StreamsDep = Annotated[LiveStreams, Depends(get_streams)]
