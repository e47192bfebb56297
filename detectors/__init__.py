"""Pure DSP detectors: arrays in, frozen dataclasses out (numpy, scipy, stdlib only).

Public entry points: `detect_rf` (complex baseband), `detect_psd` (swept spectra) and
`detect_rotor` (audio).
"""

from detectors.acoustic import AcousticConfig, AcousticDetection, detect_rotor
from detectors.psd import PsdConfig, detect_psd
from detectors.rf import RfConfig, RfDetection, detect_rf

__all__ = [
    "AcousticConfig",
    "AcousticDetection",
    "PsdConfig",
    "RfConfig",
    "RfDetection",
    "detect_psd",
    "detect_rf",
    "detect_rotor",
]
