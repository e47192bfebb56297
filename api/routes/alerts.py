"""Alerts: list with filters and cursor pages, one alert with its evidence, ack and resolve.

Store reads are plain `def` endpoints (they run in the threadpool); operator
actions go through the hub on the event loop.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query

from api.deps import HubDep, StoreDep
from api.problems import ProblemError, problem_responses, problem_type
from sensor_hub.schemas import Alert, AlertAction, AlertDetail, AlertKind, AlertPage, AlertState

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

AlertId = Annotated[str, Path(description="Alert id, e.g. `alr_3f2a...`", max_length=64)]
ActionBody = Annotated[
    AlertAction | None,
    Body(description="Who acts and why; both fields are optional."),
]


def _utc(value: datetime | None) -> datetime | None:
    # a time without a zone is read as UTC, the zone of every time the API returns
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@router.get(
    "",
    response_model=AlertPage,
    summary="List alerts",
    description=(
        "Newest first (by `first_seen`). Filters combine with AND; `state` and `kind` may "
        "repeat (`?state=active&state=acknowledged`). Follow `next_cursor` for the next page."
    ),
    responses=problem_responses(400, 422),
)
def list_alerts(
    store: StoreDep,
    state: Annotated[list[AlertState] | None, Query(description="Repeatable")] = None,
    kind: Annotated[list[AlertKind] | None, Query(description="Repeatable")] = None,
    zone: Annotated[str | None, Query(max_length=128)] = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[
        datetime | None,
        Query(description="ISO 8601; alerts still seen at or after it (UTC if no zone)"),
    ] = None,
    until: Annotated[
        datetime | None,
        Query(description="ISO 8601; alerts that began at or before it (UTC if no zone)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page")
    ] = None,
) -> AlertPage:
    try:
        return store.list_alerts(
            state=state,
            kind=kind,
            zone=zone,
            site=site,
            since=_utc(since),
            until=_utc(until),
            limit=limit,
            cursor=cursor,
        )
    except ValueError as exc:
        raise ProblemError(400, str(exc), type_=problem_type("invalid-query")) from None


@router.get(
    "/{alert_id}",
    response_model=AlertDetail,
    summary="One alert with its detections and audit trail",
    responses=problem_responses(404),
)
def get_alert(alert_id: AlertId, store: StoreDep) -> AlertDetail:
    alert = store.get_alert(alert_id)  # NotFoundError -> 404
    return AlertDetail(
        alert=alert,
        detections=store.alert_detections(alert_id),
        audit=store.audit_for(alert_id),
    )


@router.post(
    "/{alert_id}/ack",
    response_model=Alert,
    summary="Acknowledge an alert",
    description="Audited. 409 if the alert is already acknowledged or resolved.",
    responses=problem_responses(404, 409, 422),
)
async def ack_alert(alert_id: AlertId, hub: HubDep, body: ActionBody = None) -> Alert:
    return await hub.act(alert_id, "ack", body or AlertAction())


@router.post(
    "/{alert_id}/resolve",
    response_model=Alert,
    summary="Resolve an alert",
    description="Audited. 409 if the alert is already resolved.",
    responses=problem_responses(404, 409, 422),
)
async def resolve_alert(alert_id: AlertId, hub: HubDep, body: ActionBody = None) -> Alert:
    return await hub.act(alert_id, "resolve", body or AlertAction())
