from __future__ import annotations

import pytest

from sensor_hub import topics


def test_build_and_parse_round_trip() -> None:
    t = topics.frames_topic("hmp-a", "rf-1", "iq")
    assert t == "sensorhub/v1/hmp-a/rf-1/frames/iq"
    assert topics.parse_topic(t) == topics.FrameTopic("hmp-a", "rf-1", "iq")
    assert topics.parse_topic(topics.status_topic("s", "m")) == topics.StatusTopic("s", "m")
    assert topics.parse_topic(topics.events_topic("s")) == topics.EventsTopic("s")
    assert topics.parse_topic(topics.detections_topic("s", "x")) == topics.DetectionsTopic("s", "x")


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "sensorhub",
        "sensorhub/v2/s/a/frames/iq",
        "sensorhub/v1/s/a/frames/video",
        "sensorhub/v1/s/a/frames/iq/extra",
        "sensorhub/v1/s/a b/frames/iq",
        "sensorhub/v1/s/+/frames/iq",
        "other/v1/s/a/status",
        "sensorhub/v1//a/status",
    ],
)
def test_foreign_topics_do_not_match(topic: str) -> None:
    assert topics.parse_topic(topic) is None


def test_builders_reject_bad_ids() -> None:
    with pytest.raises(ValueError, match="sensor_id"):
        topics.frames_topic("s", "a/b", "iq")
    with pytest.raises(ValueError, match="kind"):
        topics.frames_topic("s", "a", "video")


def test_shared_subscription_form() -> None:
    assert topics.shared(topics.FRAMES_FILTER) == "$share/sensorhub/sensorhub/v1/+/+/frames/#"
