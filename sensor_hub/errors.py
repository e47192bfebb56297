"""The project's one exception tree.

    SensorHubError                 base; never raised directly
     ├── FrameError                a frame (wire bytes or JSON form) was rejected; has `reason`
     ├── ConfigError               settings or a scenario file are invalid
     ├── NotFoundError             an alert, sensor or event does not exist
     ├── ConflictError             an operator action does not fit the alert's state
     └── BrokerError               the MQTT broker could not be reached or started

The API maps each class to one problem+json status in a single handler
(`api/problems.py`); third-party errors are translated once, at the adapter
that calls the third party.
"""

from __future__ import annotations


class SensorHubError(Exception):
    """Base class of every error the project raises on purpose."""


class FrameError(SensorHubError):
    """A frame was rejected.

    `reason` is a short stable code (``bad_magic``, ``header_too_long``, ...)
    that is counted per sensor; the message says exactly what was wrong.
    """

    def __init__(self, reason: str, detail: str, *, sensor_id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.sensor_id = sensor_id


class ConfigError(SensorHubError):
    """Invalid settings, site or scenario."""


class NotFoundError(SensorHubError):
    """The requested resource does not exist."""


class ConflictError(SensorHubError):
    """The requested action does not fit the resource's current state."""


class BrokerError(SensorHubError):
    """The MQTT broker could not be reached or started."""
