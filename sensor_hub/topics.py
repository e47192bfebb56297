"""The MQTT topic grammar (DESIGN.md, "MQTT contract"): build and match, nothing else.

    sensorhub/v1/{site}/{sensor_id}/frames/{kind}     collector -> hub, QoS 1
    sensorhub/v1/{site}/{sensor_id}/status            collector, retained, LWT
    sensorhub/v1/{site}/events                        hub -> integrators
    sensorhub/v1/{site}/detections/{sensor_id}        hub stage 1 -> stage 2

No other module splits topic strings; handlers call `parse_topic` and get a
frozen value object back, or `None` for a topic outside the grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PREFIX = "sensorhub/v1"
SHARE_GROUP = "sensorhub"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FRAME_KINDS = frozenset({"iq", "psd", "audio"})


def _check_id(value: str, what: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"{what}={value!r} is not [A-Za-z0-9_-]{{1,64}}")
    return value


@dataclass(frozen=True, slots=True)
class FrameTopic:
    site: str
    sensor_id: str
    kind: str


@dataclass(frozen=True, slots=True)
class StatusTopic:
    site: str
    sensor_id: str


@dataclass(frozen=True, slots=True)
class EventsTopic:
    site: str


@dataclass(frozen=True, slots=True)
class DetectionsTopic:
    site: str
    sensor_id: str


Topic = FrameTopic | StatusTopic | EventsTopic | DetectionsTopic


def frames_topic(site: str, sensor_id: str, kind: str) -> str:
    if kind not in FRAME_KINDS:
        raise ValueError(f"kind={kind!r} is not one of {sorted(FRAME_KINDS)}")
    return f"{PREFIX}/{_check_id(site, 'site')}/{_check_id(sensor_id, 'sensor_id')}/frames/{kind}"


def status_topic(site: str, sensor_id: str) -> str:
    return f"{PREFIX}/{_check_id(site, 'site')}/{_check_id(sensor_id, 'sensor_id')}/status"


def events_topic(site: str) -> str:
    return f"{PREFIX}/{_check_id(site, 'site')}/events"


def detections_topic(site: str, sensor_id: str) -> str:
    return f"{PREFIX}/{_check_id(site, 'site')}/detections/{_check_id(sensor_id, 'sensor_id')}"


#: what the hub subscribes to; frames use a shared subscription on MQTT v5
FRAMES_FILTER = f"{PREFIX}/+/+/frames/#"
STATUS_FILTER = f"{PREFIX}/+/+/status"


def shared(filter_: str, group: str = SHARE_GROUP) -> str:
    """The MQTT v5 shared-subscription form of a filter."""
    return f"$share/{group}/{filter_}"


def parse_topic(topic: str) -> Topic | None:
    """Match a concrete topic against the grammar; `None` if it is not ours."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != "sensorhub" or parts[1] != "v1":
        return None
    rest = parts[2:]
    if not all(_ID.match(p) for p in rest):
        return None
    if len(rest) == 4 and rest[2] == "frames" and rest[3] in FRAME_KINDS:
        return FrameTopic(site=rest[0], sensor_id=rest[1], kind=rest[3])
    if len(rest) == 3 and rest[2] == "status":
        return StatusTopic(site=rest[0], sensor_id=rest[1])
    if len(rest) == 2 and rest[1] == "events":
        return EventsTopic(site=rest[0])
    if len(rest) == 3 and rest[1] == "detections":
        return DetectionsTopic(site=rest[0], sensor_id=rest[2])
    return None
