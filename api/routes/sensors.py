"""Sensor registry: the hub's live view (online state, last frame, reject counts).

`async def` on purpose: the registry lives on the event loop, so it is read there,
never from a threadpool thread while the hub changes it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import HubDep
from api.problems import problem_responses
from sensor_hub.errors import NotFoundError
from sensor_hub.schemas import Sensor

router = APIRouter(prefix="/v1/sensors", tags=["sensors"])


@router.get("", response_model=list[Sensor], summary="All known sensors")
async def list_sensors(hub: HubDep) -> list[Sensor]:
    return hub.sensors()


@router.get(
    "/{sensor_id}",
    response_model=Sensor,
    summary="One sensor",
    responses=problem_responses(404),
)
async def get_sensor(
    hub: HubDep,
    sensor_id: Annotated[str, Path(max_length=64)],
    site: Annotated[
        str | None, Query(max_length=64, description="Needed only if several sites share the id")
    ] = None,
) -> Sensor:
    sensor = hub.sensor(site, sensor_id)
    if sensor is None:
        where = f" of site {site!r}" if site is not None else ""
        raise NotFoundError(f"sensor {sensor_id!r}{where} is not known")
    return sensor
