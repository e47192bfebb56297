"""Every object that crosses a boundary: frames, detections, alerts, events, sensors.

One pydantic v2 schema family used by MQTT, HTTP, the store and the simulator
alike. Wire objects forbid unknown fields so that a typo in an integrator's
header is an error, not silently ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

FrameKind = Literal["iq", "psd", "audio"]
Datatype = Literal["ci8", "ci16_le", "cf32_le", "ri16_le", "rf32_le"]
Modality = Literal["rf", "acoustic"]
DetectionKind = Literal["drone", "handset", "other"]
AlertKind = Literal["drone", "handset", "sensor_offline"]
AlertState = Literal["active", "acknowledged", "resolved", "suppressed"]
Severity = Literal["low", "medium", "high", "critical"]
SensorState = Literal["online", "offline", "unknown"]

#: bytes per sample per channel on the wire
DATATYPE_SIZE: dict[str, int] = {"ci8": 2, "ci16_le": 4, "cf32_le": 8, "ri16_le": 2, "rf32_le": 4}
#: which datatypes each frame kind may carry
KIND_DATATYPES: dict[str, frozenset[str]] = {
    "iq": frozenset({"ci8", "ci16_le", "cf32_le"}),
    "audio": frozenset({"ri16_le", "rf32_le"}),
    "psd": frozenset({"ri16_le", "rf32_le"}),
}
MAX_AUDIO_CHANNELS = 8
MAX_IQ_CHANNELS = 8


def utc_now() -> datetime:
    return datetime.now(UTC)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Position(_Strict):
    """Site-local position in metres."""

    x_m: float
    y_m: float
    z_m: float = 0.0


class FrameHeader(_Strict):
    """Header of an SHF1 frame (DESIGN.md, "Frame: the one wire format")."""

    site: Identifier
    sensor_id: Identifier
    seq: int = Field(ge=0)
    boot_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{0,64}$")] = ""
    kind: FrameKind
    t0_ns: int = Field(ge=0)
    sample_rate_hz: float = Field(gt=0, allow_inf_nan=False)
    datatype: Datatype
    num_samples: int = Field(ge=1)
    num_channels: int = Field(default=1, ge=1)
    center_freq_hz: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    gain_db: float | None = Field(default=None, allow_inf_nan=False)
    full_scale_dbm: float | None = Field(default=None, allow_inf_nan=False)
    freq_start_hz: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    bin_hz: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    num_bins: int | None = Field(default=None, ge=1)
    full_scale_db_spl: float | None = Field(default=None, allow_inf_nan=False)
    position: Position | None = None
    #: audio arrays: each channel's microphone position relative to `position`, metres
    #: (x east, y north, z up); enables the GCC-PHAT bearing of acoustic detections
    mic_offsets_m: (
        list[tuple[Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)], ...]] | None
    ) = None

    @model_validator(mode="after")
    def _consistent(self) -> FrameHeader:
        allowed = KIND_DATATYPES[self.kind]
        if self.datatype not in allowed:
            raise ValueError(
                f"datatype {self.datatype!r} is not allowed for kind {self.kind!r} "
                f"(allowed: {sorted(allowed)})"
            )
        if self.kind != "audio" and self.mic_offsets_m is not None:
            raise ValueError("mic_offsets_m is for audio frames only")
        if self.kind == "iq":
            if self.center_freq_hz is None:
                raise ValueError("iq frames need center_freq_hz")
            if self.num_channels > MAX_IQ_CHANNELS:
                raise ValueError(f"iq frames carry at most {MAX_IQ_CHANNELS} channels")
        elif self.kind == "audio":
            if self.num_channels > MAX_AUDIO_CHANNELS:
                raise ValueError(
                    f"audio frames carry 1..{MAX_AUDIO_CHANNELS} channels, got {self.num_channels}"
                )
            offsets = self.mic_offsets_m
            if offsets is not None and (
                len(offsets) != self.num_channels or any(len(o) not in (2, 3) for o in offsets)
            ):
                raise ValueError(
                    "mic_offsets_m needs one [x, y] or [x, y, z] offset per channel "
                    f"({self.num_channels})"
                )
        else:  # psd: each sample is one spectrum of num_bins values
            if self.freq_start_hz is None or self.bin_hz is None or self.num_bins is None:
                raise ValueError("psd frames need freq_start_hz, bin_hz and num_bins")
            if self.num_channels != self.num_bins:
                raise ValueError(
                    f"psd frames carry num_bins values per spectrum: num_channels "
                    f"({self.num_channels}) must equal num_bins ({self.num_bins})"
                )
        return self

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate_hz

    @property
    def payload_bytes(self) -> int:
        return self.num_samples * self.num_channels * DATATYPE_SIZE[self.datatype]

    @property
    def t0(self) -> datetime:
        return datetime.fromtimestamp(self.t0_ns / 1e9, UTC)

    @property
    def modality(self) -> Modality:
        return "acoustic" if self.kind == "audio" else "rf"


class FrameJSON(FrameHeader):
    """The JSON form of a frame accepted by `POST /v1/readings`: header fields plus samples."""

    samples_b64: str


class Detection(_Strict):
    """Stage 1 output: one emitter seen in one frame by one sensor."""

    site: Identifier
    sensor_id: Identifier
    modality: Modality
    kind: DetectionKind
    signature: str
    t_start: datetime
    t_end: datetime
    confidence: float = Field(ge=0.0, le=1.0)
    snr_db: float
    freq_hz: float | None = None
    bandwidth_hz: float | None = None
    rssi_dbm: float | None = None
    f0_hz: float | None = None
    harmonics: int | None = None
    bearing_deg: float | None = None
    elevation_deg: float | None = None
    burst_count: int | None = None
    frame_seq: int | None = None
    suppressed: str | None = Field(
        default=None,
        description="set by stage 2 when a site rule keeps it from alerting: "
        "'allow:<rule>' or 'maintenance:<window>'",
    )


class Location(_Strict):
    x_m: float
    y_m: float
    radius_m: float


class Alert(_Strict):
    """Stage 2 output: one intruder (or one silent sensor), updated in place."""

    id: str
    site: Identifier
    zone: str | None = None
    cell: str | None = None
    kind: AlertKind
    signatures: list[str]
    state: AlertState
    severity: Severity
    confidence: float = Field(ge=0.0, le=1.0)
    first_seen: datetime
    last_seen: datetime
    updated_at: datetime
    sensors: list[str]
    detection_count: int = Field(ge=0)
    location: Location | None = None
    evidence: dict[str, Any] | None = None
    note: str | None = None
    suppressed_by: str | None = Field(
        default=None,
        description="the site rule ('allow:<rule>') that kept this alert from paging; "
        "kept when a suppressed alert resolves, cleared if it pages after all",
    )


class AlertAction(_Strict):
    """Body of `POST /v1/alerts/{id}/ack` and `.../resolve`."""

    note: str = Field(default="", max_length=2000)
    user: str = Field(default="operator", min_length=1, max_length=64)


class AuditEntry(_Strict):
    alert_id: str
    action: Literal["ack", "resolve"]
    user: str
    note: str
    at: datetime


EvidenceMediaType = Literal["image/png", "audio/wav"]


class EvidenceInfo(_Strict):
    """What one stored evidence item of an alert holds (the media bytes are kept beside it).

    One item per (alert, modality): the spectrogram PNG of the alert's strongest RF frame,
    or a WAV clip (at most 10 s) ending with its strongest audio frame. `t` is the start of
    the media, `duration_s` its length; spectrograms span freq_min_hz..freq_max_hz (low at
    the bottom) with colour `dynamic_range_db` below `top_db` (dBFS for IQ, dBm for PSD).
    """

    alert_id: str
    modality: Modality
    media_type: EvidenceMediaType
    site: Identifier
    sensor_id: Identifier
    signature: str
    snr_db: float
    t: datetime
    duration_s: float = Field(ge=0)
    size_bytes: int = Field(ge=0)
    created_at: datetime
    frame_seq: int | None = None
    sample_rate_hz: float | None = None
    channels: int | None = None
    width_px: int | None = None
    height_px: int | None = None
    freq_min_hz: float | None = None
    freq_max_hz: float | None = None
    top_db: float | None = None
    dynamic_range_db: float | None = None


class EvidencePublic(EvidenceInfo):
    """An evidence item as the API lists it, with where to fetch its media."""

    url: str


class EvidenceList(_Strict):
    items: list[EvidencePublic]


class AlertDetail(_Strict):
    alert: Alert
    detections: list[Detection]
    audit: list[AuditEntry]
    evidence: list[EvidencePublic] = Field(
        default_factory=list, description="spectrogram / audio clip, see .../evidence"
    )


class AlertPage(_Strict):
    items: list[Alert]
    next_cursor: str | None


class SensorStatusMessage(BaseModel):
    """Payload of `sensorhub/v1/{site}/{sensor_id}/status` (retained; LWT sets offline).

    Unknown extra fields are kept (collectors add firmware versions, temperatures, ...)
    so that a newer collector does not break an older hub.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    state: Literal["online", "offline"]
    t: float | None = Field(default=None, description="UTC epoch seconds")


class Sensor(_Strict):
    """Registry entry of `GET /v1/sensors`."""

    site: Identifier
    sensor_id: Identifier
    state: SensorState
    modality: Modality | None = None
    last_seen: datetime | None = None
    last_frame_at: datetime | None = None
    last_status: dict[str, Any] | None = None
    frames_total: int = 0
    rejects_total: int = 0
    rejects_by_reason: dict[str, int] = Field(default_factory=dict)
    flags: list[str] = Field(
        default_factory=list,
        description="health flags: frames_rejected, noise_floor_jump (sensor_hub/health.py)",
    )


EventType = Literal[
    "alert.created",
    "alert.updated",
    "alert.acknowledged",
    "alert.resolved",
    "alert.reopened",
    "alert.suppressed",
    "sensor.online",
    "sensor.offline",
    "sensor.flagged",
]


class Event(_Strict):
    """One live event: the same object on SSE, WebSocket and MQTT `.../events`.

    `id` increases by one per event in a hub; a client resumes by sending the
    last id it saw (SSE `Last-Event-ID`, WS `?after=`).
    """

    id: int
    type: EventType
    site: Identifier
    at: datetime
    alert: Alert | None = None
    sensor: Sensor | None = None


class ReadingAccepted(_Strict):
    """Response of `POST /v1/readings` (202)."""

    site: str
    sensor_id: str
    seq: int
    duplicate: bool
    detections: list[Detection]
