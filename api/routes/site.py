"""The site: zones, cells, sensors and where they point, floor plan, band plan and the
suppression rules in force (what the map and an integrator need to place alerts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.deps import HubDep
from api.problems import problem_responses
from sensor_hub.errors import NotFoundError

router = APIRouter(prefix="/v1/site", tags=["site"])


@router.get("", summary="The site configuration (zones, cells, sensors, floor plan, rules)")
async def get_site(hub: HubDep) -> dict[str, Any]:
    return hub.settings.site.public()


@router.get(
    "/floor-plan",
    summary="The floor-plan image laid under the map",
    response_class=FileResponse,
    responses=problem_responses(404),
)
async def get_floor_plan(hub: HubDep) -> FileResponse:
    plan = hub.settings.site.floor_plan
    if plan is None or not plan.image.is_file():
        raise NotFoundError("this site has no floor plan")
    # an SVG is a document: served as an image only, its scripts never run on this origin
    headers = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
    return FileResponse(plan.image, media_type=plan.media_type, headers=headers)
