"""Alerts: list with filters and cursor pages, one alert with its evidence, ack and resolve.

Evidence: `.../evidence` lists an alert's items (a spectrogram PNG of its strongest RF
frame, a WAV clip of its strongest audio), `.../evidence/{modality}` serves the bytes.

Store reads are plain `def` endpoints (they run in the threadpool); operator
actions go through the hub on the event loop.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response

from api.deps import HubDep, StoreDep
from api.problems import ProblemError, problem_responses, problem_type
from sensor_hub.schemas import (
    Alert,
    AlertAction,
    AlertDetail,
    AlertKind,
    AlertPage,
    AlertState,
    EvidenceInfo,
    EvidenceList,
    EvidencePublic,
    Modality,
)
from sensor_hub.store import Store

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
        evidence=_evidence(store, alert_id),
    )


def _public(info: EvidenceInfo) -> EvidencePublic:
    url = f"/v1/alerts/{info.alert_id}/evidence/{info.modality}"
    return EvidencePublic(**info.model_dump(), url=url)


def _evidence(store: Store, alert_id: str) -> list[EvidencePublic]:
    return [_public(info) for info in store.list_evidence(alert_id)]


@router.get(
    "/{alert_id}/evidence",
    response_model=EvidenceList,
    summary="An alert's evidence items",
    description=(
        "At most one item per modality: `rf` is the spectrogram PNG of the alert's "
        "strongest RF frame, `acoustic` a WAV clip (at most 10 s, 16-bit PCM) ending with "
        "its strongest audio frame. Items are replaced while the alert finds stronger "
        "frames and purged with the alert. Empty while nothing has been rendered yet."
    ),
    responses=problem_responses(404),
)
def list_evidence(alert_id: AlertId, store: StoreDep) -> EvidenceList:
    store.get_alert(alert_id)  # NotFoundError -> 404
    return EvidenceList(items=_evidence(store, alert_id))


@router.get(
    "/{alert_id}/evidence/{modality}",
    summary="The media of one evidence item (image/png or audio/wav)",
    response_class=Response,
    responses={
        200: {
            "content": {"image/png": {}, "audio/wav": {}},
            "description": "The spectrogram PNG (rf) or the WAV clip (acoustic)",
        },
        **problem_responses(404),
    },
)
def get_evidence(alert_id: AlertId, modality: Modality, store: StoreDep) -> Response:
    store.get_alert(alert_id)  # NotFoundError -> 404
    info, content = store.get_evidence(alert_id, modality)  # NotFoundError -> 404
    extension = "png" if info.media_type == "image/png" else "wav"
    return Response(
        content,
        media_type=info.media_type,
        headers={
            "content-disposition": f'inline; filename="{alert_id}-{modality}.{extension}"',
            # replaced when a stronger frame arrives: revalidate instead of caching blindly
            "cache-control": "no-cache",
            "etag": f'"{info.created_at.timestamp():.6f}-{info.size_bytes}"',
        },
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
