"""Hub settings: validated on construction, read from arguments or SENSOR_HUB_* variables.

No import-time settings object: `Settings()` is built by the CLI (or a test)
and passed down.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sensor_hub.site import SensorPlacement, SiteConfig

__all__ = ["FusionSettings", "HealthSettings", "SensorPlacement", "Settings", "SiteConfig"]


class FusionSettings(BaseModel):
    """Stage 2 persistence and lifecycle (see `sensor_hub/fusion.py` for the arithmetic)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rf_window_s: float = Field(default=5.0, gt=0)
    rf_min_frames: int = Field(default=3, ge=1)
    acoustic_window_s: float = Field(default=8.0, gt=0)
    acoustic_min_frames: int = Field(default=4, ge=1)
    #: a rotor heard alone whose fundamental lies under `acoustic_low_f0_hz` needs
    #: `acoustic_low_f0_min_frames` frames in the window (`acoustic_frames_needed`)
    acoustic_low_f0_hz: float = Field(default=110.0, ge=0)
    acoustic_low_f0_min_frames: int = Field(default=6, ge=1)
    quiet_s: float = Field(default=60.0, gt=0)
    reopen_s: float = Field(default=300.0, ge=0)
    zone_radius_m: float = Field(default=30.0, gt=0)  # a fix this tight names its zone
    cell_radius_m: float = Field(default=5.0, gt=0)  # and this tight its cell
    update_interval_s: float = Field(default=2.0, ge=0)
    min_confidence: float = Field(default=0.5, ge=0, le=1)

    def acoustic_frames_needed(self, f0_hz: float | None) -> int:
        """Frames of one rotor track stage 2 needs within `acoustic_window_s`, given its
        fundamental (None: unknown, or a drone already heard on its radio).

        Under `acoustic_low_f0_hz` (110 Hz) lie the fundamentals of SIGNALS.md §4's
        confusers, Doppler-shifted: road vehicles' firing (25-150 Hz; 100 Hz at 3 000 RPM,
        106 Hz approaching at 20 m/s), piston props (70-90 Hz; 109 Hz approaching at
        60 m/s), tail rotors (50-120 Hz), mains hum (100 Hz); no airframe of §4's table
        hovers there (Phantom/Mavic class 142-201 Hz; a 15-21" heavy lifter ~95-120 Hz by
        the hover rule). Wind on the microphone hides a vehicle's low harmonics and with
        them the cues against it (its low fundamental, the share of tonal power), so there
        a track needs §6's stricter persistence (6 frames) before it alerts: a heavy drone
        heard in most frames alerts a few seconds later, one heard in fewer than 6 of 8
        frames not on its rotor alone."""
        if f0_hz is not None and f0_hz < self.acoustic_low_f0_hz:
            return max(self.acoustic_min_frames, self.acoustic_low_f0_min_frames)
        return self.acoustic_min_frames


class HealthSettings(BaseModel):
    """Sensor silence and tamper flags (see `sensor_hub/health.py`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    offline_after_s: float = Field(default=25.0, gt=0)
    reject_window_s: float = Field(default=60.0, gt=0)
    reject_min: int = Field(default=10, ge=1)
    floor_jump_db: float = Field(default=10.0, gt=0)
    floor_jump_frames: int = Field(default=5, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENSOR_HUB_", extra="forbid")

    broker_url: str | None = Field(
        default=None,
        description="mqtt://host:port of a production broker; None starts the embedded one",
    )
    mqtt_protocol: str = Field(default="auto", description="auto | 5 | 3.1.1")
    mqtt_client_id: str = "sensor-hub"
    mqtt_session_expiry_s: int = Field(default=3600, ge=3600)
    mqtt_share_group: str = Field(
        default="sensorhub",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="MQTT v5 shared-subscription group: stage 1 workers in one group split frames",
    )
    db_url: str = "sqlite:///sensor-hub.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    queue_size: int = Field(default=1000, ge=1)
    stage1_workers: int = Field(default=2, ge=1)
    max_header_bytes: int = Field(default=8 * 1024, ge=256)
    max_payload_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    event_history: int = Field(default=1000, ge=10)
    fusion: FusionSettings = Field(default_factory=FusionSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    site: SiteConfig = Field(default_factory=SiteConfig)

    @field_validator("mqtt_protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        if value not in {"auto", "5", "3.1.1"}:
            raise ValueError(f"mqtt_protocol={value!r} is not one of auto, 5, 3.1.1")
        return value
