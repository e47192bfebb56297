"""Every error the API returns is `application/problem+json` (RFC 9457).

One place maps the project's error tree (`sensor_hub/errors.py`), FastAPI's
request validation errors, HTTP exceptions and unexpected exceptions to
problem documents: routes raise, they never build error responses by hand.

    FrameError          422  + `reason` (bad_magic, payload_length, ...)
    NotFoundError       404
    ConflictError       409
    ConfigError         400
    BrokerError         503
    ProblemError        its own status (413, 415, 400 bad cursor, 503 not ready, ...)
    RequestValidation   422  + `errors` [{loc, msg, type}]
    HTTPException       its status (404 unknown path, 405, ...)
    anything else       500, logged
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from sensor_hub.errors import (
    BrokerError,
    ConfigError,
    ConflictError,
    FrameError,
    NotFoundError,
    SensorHubError,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_PREFIX = "urn:sensor-hub:problem:"


class Problem(BaseModel):
    """An RFC 9457 problem document (documentation of the error responses)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URI identifying the problem type")
    title: str = Field(description="Short, human-readable summary of the problem type")
    status: int = Field(description="The HTTP status code")
    detail: str | None = Field(default=None, description="What went wrong this time")
    instance: str | None = Field(default=None, description="The request path")
    reason: str | None = Field(
        default=None, description="Frame errors only: the stable reject code, e.g. `bad_magic`"
    )


class ProblemError(Exception):
    """Raised by routes for errors that are about HTTP rather than the domain."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.type = type_
        self.headers = headers
        self.extensions = extensions


def problem_type(name: str) -> str:
    return _TYPE_PREFIX + name


def problem_response(
    request: Request,
    status: int,
    *,
    title: str | None = None,
    detail: str | None = None,
    type_: str = "about:blank",
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    body["instance"] = request.url.path
    body.update(extensions)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


#: the domain error tree: class -> (status, title, problem type name)
_DOMAIN: list[tuple[type[SensorHubError], int, str, str]] = [
    (FrameError, 422, "Frame rejected", "frame-rejected"),
    (NotFoundError, 404, "Not found", "not-found"),
    (ConflictError, 409, "Conflict with the current state", "conflict"),
    (ConfigError, 400, "Invalid configuration", "invalid-config"),
    (BrokerError, 503, "MQTT broker unavailable", "broker-unavailable"),
]


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    for cls, status, title, name in _DOMAIN:
        if isinstance(exc, cls):
            if isinstance(exc, FrameError):
                return problem_response(
                    request,
                    status,
                    title=title,
                    detail=exc.detail,
                    type_=problem_type(name),
                    reason=exc.reason,
                )
            return problem_response(
                request, status, title=title, detail=str(exc), type_=problem_type(name)
            )
    return await _unexpected(request, exc)


async def _problem_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        request,
        exc.status,
        title=exc.title,
        detail=exc.detail,
        type_=exc.type,
        headers=exc.headers,
        **exc.extensions,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # loc, msg and type only: `input` and `ctx` may hold bytes or exception objects
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
        for e in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
    return problem_response(
        request,
        422,
        title="Request validation failed",
        detail=summary or "the request is not valid",
        type_=problem_type("validation-error"),
        errors=errors,
    )


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    return problem_response(
        request, exc.status_code, title=phrase, detail=detail, headers=exc.headers
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        request,
        500,
        title="Internal server error",
        detail="an unexpected error occurred; it has been logged",
        type_=problem_type("internal-error"),
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SensorHubError, _domain_error)
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    # Starlette serves this from its outermost middleware, then re-raises for the server log
    app.add_exception_handler(Exception, _unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting problem+json errors."""
    schema = Problem.model_json_schema()
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": schema}},
        }
        for status in statuses
    }
