"""`POST /v1/readings`: one frame from an integrator, as SHF1 bytes or as JSON."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, status

from api.deps import HubDep
from api.problems import ProblemError, problem_responses, problem_type
from sensor_hub.errors import FrameError
from sensor_hub.schemas import ReadingAccepted
from sensor_hub.settings import Settings

router = APIRouter(tags=["readings"])

OCTET_STREAM = "application/octet-stream"
JSON = "application/json"
#: room for the 8-byte prefix and an integrator's sloppiness beyond the codec's limits
_SLACK_BYTES = 4096

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": (
            "One frame: the SHF1 wire format (`application/octet-stream`: magic `SHF1`, "
            "u32 LE header length, UTF-8 JSON header, samples), or the JSON form "
            "(`application/json`: the same header fields plus `samples_b64`)."
        ),
        "content": {
            OCTET_STREAM: {"schema": {"type": "string", "format": "binary"}},
            JSON: {"schema": {"$ref": "#/components/schemas/FrameJSON"}},
        },
    }
}


def body_limit(settings: Settings, media_type: str) -> int:
    """Largest body accepted for a media type, checked before the body is read."""
    frame = settings.max_payload_bytes + settings.max_header_bytes + _SLACK_BYTES
    if media_type == JSON:
        return (settings.max_payload_bytes * 4) // 3 + settings.max_header_bytes + _SLACK_BYTES
    return frame


async def _read_body(request: Request, limit: int) -> bytes:
    too_large = ProblemError(
        413,
        f"the body exceeds {limit} bytes",
        type_=problem_type("payload-too-large"),
        limit=limit,
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():  # a chunked upload may not declare its length
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FrameError("header_not_json", f"body is not JSON: {exc}") from None


@router.post(
    "/v1/readings",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ReadingAccepted,
    summary="Ingest one frame",
    description=(
        "Decodes and validates the frame, runs the detectors on it and feeds stage 2. "
        "Answers 202 with the frame's detections; a frame already seen (same sensor, "
        "`boot_id` and `seq`) is answered with `duplicate: true` and not processed again. "
        "A rejected frame is a 422 problem whose `reason` says why; it is counted per sensor."
    ),
    openapi_extra=_BODY_DOC,
    responses=problem_responses(413, 415, 422),
)
async def post_reading(request: Request, hub: HubDep) -> ReadingAccepted:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in (OCTET_STREAM, JSON):
        raise ProblemError(
            415,
            f"content type {media_type or '(none)'!r} is not supported: "
            f"send {OCTET_STREAM} (an SHF1 frame) or {JSON}",
            type_=problem_type("unsupported-media-type"),
            accepted=[OCTET_STREAM, JSON],
        )
    body = await _read_body(request, body_limit(hub.settings, media_type))
    if media_type == OCTET_STREAM:
        return await hub.ingest_bytes(body)
    try:
        parsed = _parse_json(body)
    except FrameError as exc:
        hub.reject(hub.settings.site.site, None, exc.reason, exc.detail)
        raise
    return await hub.ingest_json(parsed)
