"""sensor-hub: perimeter drone and contraband-handset detection service."""

__version__ = "0.1.0"
