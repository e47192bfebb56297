"""The site: zones and cells, sensors and where they point, floor plan, band plan (the UK's
only, for now), and the rules that keep the site's own emitters from paging anyone.

Loaded from YAML by `sensor-hub serve --site FILE` (the demo builds it from its scenario)
and served at `GET /v1/site`. Everything is validated when loaded: a rule naming an
unknown zone or sensor, a polygon with fewer than three corners, a window that ends
before it starts, or a floor plan that does not exist is an error with its path in the
file, not a surprise at 3 a.m.

Coordinates are site-local metres (x east, y north, z up); azimuths are degrees clockwise
from north.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sensor_hub.localise import smallest_containing

Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Point2 = tuple[float, float]
Polygon = Annotated[list[Point2], Field(min_length=3)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SensorPlacement(_Strict):
    """Where a known sensor sits (site-local metres), which zone it watches, and where it
    points: `orientation_deg` is the azimuth of the sensor's own +y axis (a microphone
    array's bearings and a directional antenna's boresight are turned by it)."""

    sensor_id: Id
    modality: Literal["rf", "acoustic"] | None = None
    x_m: float = 0.0
    y_m: float = 0.0
    z_m: float = 0.0
    zone: str | None = None
    orientation_deg: float = 0.0
    label: str | None = None


class FloorPlan(_Strict):
    """An image laid under the map: the file (PNG, JPEG or SVG) and the rectangle of the
    site it covers, metres (x_m, y_m: its lower-left corner)."""

    image: Path
    x_m: float
    y_m: float
    width_m: float = Field(gt=0)
    height_m: float = Field(gt=0)

    @property
    def media_type(self) -> str:
        suffix = self.image.suffix.lower()
        return {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".svg": "image/svg+xml"}.get(suffix, "application/octet-stream")  # fmt: skip


class TimeWindow(_Strict):
    """When a rule applies: an absolute interval (`start`, `end`, timezone-aware ISO 8601)
    or a daily one (`daily_from`, `daily_to` in the site's timezone, optionally on some
    `days` only; a daily window may run past midnight)."""

    start: datetime | None = None
    end: datetime | None = None
    daily_from: time | None = None
    daily_to: time | None = None
    days: list[Weekday] = Field(default_factory=list)

    @field_validator("daily_from", "daily_to", mode="before")
    @classmethod
    def _clock_time(cls, value: object) -> object:
        """Clock times are "HH:MM" or "HH:MM:SS" in the site timezone: YAML reads an
        unquoted 18:30 as the number 1110, and an offset would fight the timezone."""
        if value is None or (isinstance(value, time) and value.tzinfo is None):
            return value
        if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value.strip()):
            return value.strip()
        raise ValueError(
            f'{value!r} is not a local clock time: write it quoted, as "HH:MM" (the '
            "site's timezone applies)"
        )

    @model_validator(mode="after")
    def _one_kind(self) -> TimeWindow:
        absolute = self.start is not None or self.end is not None
        daily = self.daily_from is not None or self.daily_to is not None
        if absolute == daily:
            raise ValueError("give either start and end, or daily_from and daily_to")
        if absolute:
            if self.start is None or self.end is None:
                raise ValueError("an absolute window needs both start and end")
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("start and end need a timezone (e.g. 2026-12-01T08:00:00Z)")
            if self.end <= self.start:
                raise ValueError("end must be after start")
        elif self.daily_from is None or self.daily_to is None:
            raise ValueError("a daily window needs both daily_from and daily_to")
        return self

    def contains(self, t: datetime, tz: ZoneInfo) -> bool:
        if self.start is not None and self.end is not None:
            return self.start <= t < self.end
        assert self.daily_from is not None and self.daily_to is not None
        local = t.astimezone(tz)
        clock = local.time().replace(tzinfo=None)
        day = WEEKDAYS[local.weekday()]
        if self.daily_from <= self.daily_to:
            return (not self.days or day in self.days) and self.daily_from <= clock < self.daily_to
        # past midnight: the evening part belongs to its own day, the morning to the day before
        if clock >= self.daily_from:
            return not self.days or day in self.days
        if clock < self.daily_to:
            return not self.days or WEEKDAYS[(local.weekday() - 1) % 7] in self.days
        return False


class AllowRule(_Strict):
    """Detections matching every criterion given are the site's own: stored and shown as
    suppressed, never alerted. Empty criteria match anything (a rule must give at least
    one)."""

    name: Id
    signatures: list[str] = Field(default_factory=list)
    band_hz: tuple[float, float] | None = None
    zones: list[str] = Field(default_factory=list)
    sensors: list[str] = Field(default_factory=list)
    windows: list[TimeWindow] = Field(default_factory=list)
    note: str = ""

    @model_validator(mode="after")
    def _narrow(self) -> AllowRule:
        if not (self.signatures or self.band_hz or self.zones or self.sensors or self.windows):
            raise ValueError(f"allow rule {self.name} matches everything: give a criterion")
        if self.band_hz is not None and self.band_hz[1] <= self.band_hz[0]:
            raise ValueError(f"allow rule {self.name}: band_hz must be [low, high]")
        return self


class MaintenanceWindow(_Strict):
    """Sensors under maintenance: their detections are suppressed and their silence raises
    no `sensor_offline` alert while a window is open."""

    name: Id
    sensors: list[str] = Field(min_length=1)
    windows: list[TimeWindow] = Field(min_length=1)
    note: str = ""


class SiteConfig(_Strict):
    """The site's description (see the module docstring).

    When `sensors` is non-empty, frames from sensors not listed are rejected as
    `unknown_sensor`; when it is empty, any sensor is accepted and registered.
    """

    site: Id = "default"
    name: str = ""
    timezone: str = "UTC"
    zones: dict[str, Polygon] = Field(default_factory=dict)
    cells: dict[str, Polygon] = Field(default_factory=dict)
    sensors: list[SensorPlacement] = Field(default_factory=list)
    floor_plan: FloorPlan | None = None
    #: the detectors' band plan (which bands are uplinks, downlinks, ISM); only the UK's
    #: is implemented (detectors/rf_labels.py)
    band_plan: Literal["uk"] = "uk"
    path_loss_exponent: float = Field(default=2.0, ge=1.5, le=6.0)
    allow: list[AllowRule] = Field(default_factory=list)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _references(self) -> SiteConfig:
        ids = [s.sensor_id for s in self.sensors]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"sensors listed twice: {', '.join(dupes)}")
        overlap = sorted(set(self.zones) & set(self.cells))
        if overlap:
            raise ValueError(f"names used for both a zone and a cell: {', '.join(overlap)}")
        places = set(self.zones) | set(self.cells)
        known = set(ids)
        for s in self.sensors:
            if s.zone is not None and places and s.zone not in places:
                raise ValueError(f"sensor {s.sensor_id}: unknown zone {s.zone!r}")
        rules: list[AllowRule | MaintenanceWindow] = [*self.allow, *self.maintenance]
        for rule in rules:
            for z in rule.zones if isinstance(rule, AllowRule) else ():
                if z not in places:
                    raise ValueError(f"rule {rule.name}: unknown zone {z!r}")
            for sid in rule.sensors:
                if known and sid not in known:
                    raise ValueError(f"rule {rule.name}: unknown sensor {sid!r}")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def placement(self, sensor_id: str) -> SensorPlacement | None:
        for s in self.sensors:
            if s.sensor_id == sensor_id:
                return s
        return None

    def place_of(self, x_m: float, y_m: float) -> tuple[str | None, str | None]:
        """(zone, cell) holding a point: the smallest of each that contains it."""
        return smallest_containing(x_m, y_m, self.zones), smallest_containing(x_m, y_m, self.cells)

    def public(self) -> dict[str, Any]:
        """What `GET /v1/site` serves (the floor plan's file becomes a link)."""
        doc = self.model_dump(mode="json", exclude={"floor_plan"})
        if self.floor_plan is not None:
            fp = self.floor_plan
            doc["floor_plan"] = {"url": "/v1/site/floor-plan", "media_type": fp.media_type,
                                 "x_m": fp.x_m, "y_m": fp.y_m, "width_m": fp.width_m,
                                 "height_m": fp.height_m}  # fmt: skip
        else:
            doc["floor_plan"] = None
        return doc


class SiteFileError(ValueError):
    """A site file that cannot be used, with every problem and where it is."""


def load_site(path: str | Path) -> SiteConfig:
    """Read and validate a site YAML file; a floor plan's image path is relative to it."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise SiteFileError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise SiteFileError(f"{p}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise SiteFileError(f"{p}: expected a mapping at the top level")
    plan = raw.get("floor_plan")
    if isinstance(plan, dict) and isinstance(plan.get("image"), str):
        image = Path(plan["image"])
        raw["floor_plan"] = {
            **plan,
            "image": str(image if image.is_absolute() else p.parent / image),
        }
    try:
        site = SiteConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        ]
        raise SiteFileError(f"{p}: invalid site file\n" + "\n".join(lines)) from None
    if site.floor_plan is not None and not site.floor_plan.image.is_file():
        raise SiteFileError(f"{p}: floor_plan.image {site.floor_plan.image} does not exist")
    return site
