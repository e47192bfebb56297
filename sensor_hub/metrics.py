"""Counters and gauges rendered in the Prometheus text format (no extra dependency)."""

from __future__ import annotations

import threading
from collections import defaultdict

_HELP: dict[str, tuple[str, str]] = {
    "sensorhub_frames_total": ("counter", "Frames accepted, by sensor and kind"),
    "sensorhub_frames_rejected_total": ("counter", "Frames rejected, by sensor and reason"),
    "sensorhub_frames_duplicate_total": ("counter", "Frames skipped as already seen"),
    "sensorhub_detections_total": ("counter", "Stage 1 detections, by modality and signature"),
    "sensorhub_alert_events_total": ("counter", "Alert and sensor events published, by type"),
    "sensorhub_mqtt_dropped_total": (
        "counter",
        "MQTT messages dropped because the ingest queue was full",
    ),
    "sensorhub_mqtt_connected": ("gauge", "1 while connected to the broker"),
    "sensorhub_ingest_queue_depth": ("gauge", "Messages waiting in the ingest queue"),
    "sensorhub_stage1_seconds_total": ("counter", "CPU-side seconds spent in stage 1"),
}

Labels = tuple[tuple[str, str], ...]


class Metrics:
    """Thread-safe: paho's network thread counts drops while the loop counts frames."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[Labels, float]] = defaultdict(dict)

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._values[name]
            series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[name][key] = value

    def get(self, name: str, **labels: str) -> float:
        key = tuple(sorted(labels.items()))
        with self._lock:
            return self._values.get(name, {}).get(key, 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            snapshot = {k: dict(v) for k, v in self._values.items()}
        for name in sorted(set(_HELP) | set(snapshot)):
            kind, help_ = _HELP.get(name, ("untyped", name))
            lines.append(f"# HELP {name} {help_}")
            lines.append(f"# TYPE {name} {kind}")
            for labels, value in sorted(snapshot.get(name, {}).items()):
                if labels:
                    body = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                    lines.append(f"{name}{{{body}}} {value:g}")
                else:
                    lines.append(f"{name} {value:g}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
