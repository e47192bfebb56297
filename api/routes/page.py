"""`GET /`: the minimal control-room page (self-contained HTML, no CDN)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter()


@cache
def _index_html() -> str:
    return resources.files("api").joinpath("static/index.html").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index() -> HTMLResponse:
    return HTMLResponse(_index_html(), headers={"Cache-Control": "no-cache"})
