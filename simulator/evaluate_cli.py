"""`sensor-hub evaluate DIR (--hub URL | --alerts FILE)`: score a hub's alerts against truth.json.

The I/O edge of `simulator.evaluate`: reads the capture's truth, gets the alerts (from a
hub over HTTP, or from a file), writes the JSON result and the HTML report, prints a
short summary. The scoring itself is in `simulator.evaluate` (definitions in its
docstring), the report in `simulator.report`.

An alerts file holds one of: a JSON list of alerts, an `AlertPage` (``{"items": [...],
"next_cursor": ...}``), or JSON lines, each an alert or a live event carrying one
(``{"type": "alert.updated", "alert": {...}, ...}``). An alert id seen more than once
keeps its latest version (by ``updated_at``, then file order).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from sensor_hub.schemas import Alert, AlertPage
from simulator.evaluate import EvaluationResult, MatchSettings, Truth, evaluate
from simulator.report import render_report

if TYPE_CHECKING:  # httpx is a dev extra, not a runtime dependency: imported only for --hub
    import httpx

PAGE_LIMIT = 500
_ALERT_LIST = TypeAdapter(list[Alert])


class EvaluateInputError(ValueError):
    """A truth file or an alerts source that cannot be read; the message says which."""


# ---------------------------------------------------------------- inputs


def load_truth(capture_dir: Path, start_time_ns: int | None = None) -> Truth:
    """truth.json, with t = 0 moved to when the capture was replayed.

    Replays re-stamp frames to start "now" (`sensor-hub replay` writes that instant to
    DIR/replay.json); `start_time_ns` overrides both.
    """
    path = capture_dir / "truth.json"
    replayed = capture_dir / "replay.json"
    if start_time_ns is None and replayed.is_file():
        try:
            start_time_ns = int(json.loads(replayed.read_text())["start_time_ns"])
        except (ValueError, KeyError, TypeError) as exc:
            raise EvaluateInputError(f"{replayed}: unreadable ({exc})") from None
    try:
        truth = Truth.model_validate_json(path.read_bytes())
        if start_time_ns is not None:
            truth = truth.model_copy(update={"start_time_ns": start_time_ns})
        return truth
    except FileNotFoundError:
        raise EvaluateInputError(f"{path}: no truth.json in the capture directory") from None
    except ValidationError as exc:
        raise EvaluateInputError(f"{path}: not a valid truth file:\n{exc}") from None


def parse_alerts(text: str) -> list[Alert]:
    """Alerts from a JSON list, an AlertPage or JSON lines (module docstring)."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        whole: Any = json.loads(stripped)
    except json.JSONDecodeError:
        whole = None  # JSON lines (several documents), parsed below
    try:
        if isinstance(whole, list):
            return latest(_ALERT_LIST.validate_python(whole))
        if isinstance(whole, dict):
            return latest(
                [_alert_of(whole)]
                if "items" not in whole
                else AlertPage.model_validate(whole).items
            )
        alerts: list[Alert] = []
        for n, line in enumerate(stripped.splitlines(), start=1):
            if line.strip():
                try:
                    alerts.append(_alert_of(json.loads(line)))
                except (json.JSONDecodeError, ValidationError, ValueError) as exc:
                    raise EvaluateInputError(f"line {n}: {exc}") from None
        return latest(alerts)
    except ValidationError as exc:
        raise EvaluateInputError(f"not a list of alerts or an alert page:\n{exc}") from None


def _alert_of(obj: Any) -> Alert:
    if isinstance(obj, dict) and "type" in obj and "alert" in obj:  # a live event
        if obj["alert"] is None:
            raise ValueError(f"event {obj.get('id')!r} ({obj['type']}) carries no alert")
        return Alert.model_validate(obj["alert"])
    return Alert.model_validate(obj)


def latest(alerts: Iterable[Alert]) -> list[Alert]:
    """One alert per id, its latest version; in order of first appearance."""
    out: dict[str, Alert] = {}
    for a in alerts:
        if a.id not in out or a.updated_at >= out[a.id].updated_at:
            out[a.id] = a
    return list(out.values())


def fetch_alerts(client: httpx.Client, *, site: str | None = None) -> list[Alert]:
    """Every alert of `site` from a hub: `GET /v1/alerts?limit=500`, following `next_cursor`.

    `client` carries the base URL, auth header and transport (tests pass a MockTransport).
    """
    alerts: list[Alert] = []
    cursor: str | None = None
    seen_cursors: set[str] = set()
    while True:
        params: dict[str, str | int] = {"limit": PAGE_LIMIT}
        if site:
            params["site"] = site
        if cursor:
            params["cursor"] = cursor
        response = client.get("/v1/alerts", params=params)
        if response.status_code != 200:
            raise EvaluateInputError(
                f"GET {response.request.url} -> {response.status_code}: {response.text[:500]}"
            )
        page = AlertPage.model_validate_json(response.content)
        alerts += page.items
        if page.next_cursor is None or page.next_cursor in seen_cursors:
            return latest(alerts)
        seen_cursors.add(page.next_cursor)
        cursor = page.next_cursor


def hub_client(hub_url: str, api_key: str | None, *, timeout_s: float = 30.0) -> httpx.Client:
    import httpx  # lazily: see the TYPE_CHECKING import

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.Client(base_url=hub_url.rstrip("/"), headers=headers, timeout=timeout_s)


# ---------------------------------------------------------------- outputs


def summary(result: EvaluationResult) -> str:
    def num(v: float | None, fmt: str = ".2f") -> str:
        return "n/a" if v is None else format(v, fmt)

    kinds = (
        ", ".join(f"{k} {c.detected}/{c.intruders}" for k, c in result.counts_by_kind.items())
        or "none"
    )
    lines = [
        f"site {result.site}, seed {result.seed}, {result.duration_s:g} s of scenario time",
        f"  Pd              {num(result.pd)}  ({result.detected}/{result.intruders}; {kinds})",
        f"  false alerts    {result.false_alerts} = {num(result.false_alerts_per_hour)} /h"
        f"  ({num(result.false_alerts_per_sensor_hour, '.3f')} per sensor-hour,"
        f" {result.sensors} sensors)",
        f"  latency         p50 {num(result.latency_s_p50)} s, p90 {num(result.latency_s_p90)} s",
        f"  location error  median {num(result.location_error_m_median, '.1f')} m"
        f"  (within radius: {num(result.location_within_radius)})",
        f"  alerts/intruder {num(result.alerts_per_intruder)}"
        f"  (alerts: {result.alerts_total} total, {result.alerts_matched} matched,"
        f" {result.alerts_duplicate} duplicate, {result.sensor_offline_alerts} sensor_offline,"
        f" {result.alerts_out_of_scope} out of scope)",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- command


def add_evaluate_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "evaluate",
        help="score alerts against a capture's truth: Pd, false alerts/h, latency, location",
        description="Score a hub's alerts against DIR/truth.json (definitions: "
        "simulator/evaluate.py). Writes JSON and an HTML report.",
    )
    p.add_argument("capture_dir", metavar="DIR", type=Path, help="capture with truth.json")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--hub", metavar="URL", help="hub API base URL, e.g. http://127.0.0.1:8000")
    source.add_argument(
        "--alerts",
        metavar="FILE",
        type=Path,
        help="alerts as a JSON list, an AlertPage, or JSON lines of alerts or events",
    )
    p.add_argument("--out", type=Path, default=None, help="JSON (default DIR/evaluation.json)")
    p.add_argument("--html", type=Path, default=None, help="report (default DIR/evaluation.html)")
    p.add_argument(
        "--api-key",
        default=os.environ.get("SENSOR_HUB_API_KEY"),
        help="bearer key for --hub (default $SENSOR_HUB_API_KEY)",
    )
    p.add_argument("--tolerance-before-s", type=float, default=MatchSettings.tolerance_before_s)
    p.add_argument(
        "--tolerance-after-s",
        type=float,
        default=MatchSettings.tolerance_after_s,
        help="how long after an emission ends an alert may still match it (default 60)",
    )
    p.add_argument(
        "--start-time-ns",
        type=int,
        default=None,
        help="UTC epoch ns of scenario t = 0 in the hub's timestamps (default: DIR/replay.json "
        "written by `sensor-hub replay`, else truth.json's start_time_ns)",
    )
    return p


def _fetch_from_hub(hub_url: str, api_key: str | None, site: str) -> list[Alert]:
    try:
        import httpx  # lazily: see the TYPE_CHECKING import
    except ImportError:
        raise EvaluateInputError("--hub needs httpx (pip install httpx), or use --alerts") from None
    try:
        with hub_client(hub_url, api_key) as client:
            return fetch_alerts(client, site=site)
    except httpx.HTTPError as exc:
        raise EvaluateInputError(f"{hub_url}: {exc}") from None


def run_evaluate(args: argparse.Namespace) -> int:
    """Run the command; 0 on success, 2 on unreadable inputs (message on stderr)."""
    capture_dir: Path = args.capture_dir
    try:
        truth = load_truth(capture_dir, args.start_time_ns)
        settings = MatchSettings(args.tolerance_before_s, args.tolerance_after_s)
        if args.hub:
            alerts = _fetch_from_hub(args.hub, args.api_key, truth.site)
        else:
            alerts = parse_alerts(Path(args.alerts).read_text(encoding="utf-8"))
    except (EvaluateInputError, OSError, ValueError) as exc:
        print(f"sensor-hub evaluate: {exc}", file=sys.stderr)
        return 2
    result = evaluate(truth, alerts, settings)
    out: Path = args.out or capture_dir / "evaluation.json"
    html: Path = args.html or capture_dir / "evaluation.html"
    out.write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    html.write_text(render_report(truth, result), encoding="utf-8")
    print(summary(result))
    print(f"  wrote {out} and {html}")
    return 0
