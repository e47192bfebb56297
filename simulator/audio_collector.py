"""A virtual microphone or microphone array delivering back-to-back PCM frames.

Each frame is rendered from the site's `AcousticSource`s: every source reaches every
microphone with its own retarded time (so the inter-channel delays are exact from
geometry and the speed of sound, as fractional delays), spreading and ISO 9613-1
absorption at the scenario's air condition (`medium`), and optionally one ground image
source. Site ambience and microphone self-noise are added independently per microphone.
Samples are scaled to full scale 1.0 = `full_scale_db_spl` (see `simulator.propagation`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import scipy.fft
from numpy.typing import NDArray

from sensor_hub.schemas import MAX_AUDIO_CHANNELS, FrameHeader
from simulator.acoustic_emitters import AcousticSource, Ambience, Medium
from simulator.noise import complex_gaussian
from simulator.propagation import REFERENCE_PRESSURE_PA, db_to_amplitude
from simulator.trajectory import Vec3

if TYPE_CHECKING:  # collectors.py re-exports this module: import its types lazily
    from simulator.collectors import SensorSpec

FloatArray = NDArray[np.float64]


def linear_array(n: int, spacing_m: float, *, axis: int = 0) -> tuple[Vec3, ...]:
    """n microphones on a line along x (axis 0) or y (axis 1), centred on the sensor."""
    offsets = (np.arange(n) - 0.5 * (n - 1)) * spacing_m
    out = []
    for o in offsets:
        v = [0.0, 0.0, 0.0]
        v[axis] = float(o)
        out.append((v[0], v[1], v[2]))
    return tuple(out)


def circular_array(n: int, radius_m: float) -> tuple[Vec3, ...]:
    """n microphones evenly on a horizontal circle, the first on +x."""
    a = 2 * np.pi * np.arange(n) / n
    return tuple((float(radius_m * np.cos(x)), float(radius_m * np.sin(x)), 0.0) for x in a)


@dataclass(frozen=True)
class AudioCollector:
    """Microphone(s) at `spec.position` + `mic_offsets_m` (metres, site axes)."""

    spec: SensorSpec
    sample_rate_hz: float = 16_000.0
    frame_s: float = 1.0
    full_scale_db_spl: float = 120.0
    datatype: Literal["ri16_le", "rf32_le"] = "ri16_le"
    ambience: Ambience = field(default_factory=Ambience)
    mic_offsets_m: tuple[Vec3, ...] = ((0.0, 0.0, 0.0),)
    medium: Medium = field(default_factory=Medium)

    def __post_init__(self) -> None:
        if not 1 <= len(self.mic_offsets_m) <= MAX_AUDIO_CHANNELS:
            raise ValueError(
                f"{len(self.mic_offsets_m)=} microphones: need 1..{MAX_AUDIO_CHANNELS}"
            )
        # accept lists from callers, keep the frozen value hashable
        object.__setattr__(
            self, "mic_offsets_m",
            tuple((float(x), float(y), float(z)) for x, y, z in self.mic_offsets_m),
        )  # fmt: skip

    @property
    def num_channels(self) -> int:
        return len(self.mic_offsets_m)

    @property
    def num_samples(self) -> int:
        return round(self.frame_s * self.sample_rate_hz)

    @property
    def frame_duration_s(self) -> float:
        return self.num_samples / self.sample_rate_hz

    @property
    def full_scale_pa(self) -> float:
        return REFERENCE_PRESSURE_PA * db_to_amplitude(self.full_scale_db_spl)

    @property
    def mic_positions_m(self) -> FloatArray:
        """(num_channels, 3) microphone positions in site metres."""
        return np.asarray(self.spec.position, dtype=np.float64) + np.asarray(
            self.mic_offsets_m, dtype=np.float64
        )

    def frames_per_pass(self, duration_s: float) -> int:
        return max(0, math.floor(duration_s / self.frame_duration_s + 1e-9))

    def frame_start_s(self, k: int) -> float:
        return k * self.frame_duration_s

    def render_channels_pa(
        self,
        sources: Sequence[AcousticSource],
        t0_s: float,
        rng: np.random.Generator,
        loop_index: int = 0,
        *,
        include_noise: bool = True,
        include_signals: bool = True,
    ) -> FloatArray:
        """(num_channels, n) sound pressure in Pa at each microphone for the frame at t0_s."""
        n, fs, m = self.num_samples, self.sample_rate_hz, self.num_channels
        mics = self.mic_positions_m
        p = np.zeros((m, n), dtype=np.float64)
        for src in sources if include_signals else ():
            p += src.pressure_pa(mics, t0_s, fs, n, loop_index, self.medium)
        if include_noise:  # ambience and self-noise: independent per microphone
            freqs = np.asarray(np.fft.rfftfreq(n, 1.0 / fs), dtype=np.float64)
            scale = np.sqrt(self.ambience.psd(freqs) * fs * n / 4.0)
            nf = len(freqs)
            spec = complex_gaussian(rng, (m, nf))
            spec *= scale
            spec[:, 0] = 0.0
            p += scipy.fft.irfft(spec, n, axis=-1)
        return p

    def render_pa(
        self,
        sources: Sequence[AcousticSource],
        t0_s: float,
        rng: np.random.Generator,
        loop_index: int = 0,
        *,
        include_noise: bool = True,
        include_signals: bool = True,
    ) -> FloatArray:
        """Sound pressure in Pa: (n,) for a single microphone, else (num_channels, n)."""
        p = self.render_channels_pa(
            sources, t0_s, rng, loop_index,
            include_noise=include_noise, include_signals=include_signals,
        )  # fmt: skip
        return p[0] if self.num_channels == 1 else p

    def render(
        self,
        sources: Sequence[AcousticSource],
        t0_s: float,
        rng: np.random.Generator,
        loop_index: int = 0,
        *,
        include_noise: bool = True,
        include_signals: bool = True,
    ) -> NDArray[np.float32]:
        """float32 samples at full scale 1.0 (= `full_scale_db_spl` RMS): (n,) mono, else
        (num_channels, n), the layout `sensor_hub.codec.encode_samples` takes."""
        p = self.render_pa(
            sources, t0_s, rng, loop_index,
            include_noise=include_noise, include_signals=include_signals,
        )  # fmt: skip
        return (p / self.full_scale_pa).astype(np.float32)

    def header(self, *, site: str, seq: int, boot_id: str, t0_ns: int) -> FrameHeader:
        return FrameHeader(
            site=site,
            sensor_id=self.spec.sensor_id,
            seq=seq,
            boot_id=boot_id,
            kind="audio",
            t0_ns=t0_ns,
            sample_rate_hz=self.sample_rate_hz,
            datatype=self.datatype,
            num_samples=self.num_samples,
            num_channels=self.num_channels,
            full_scale_db_spl=self.full_scale_db_spl,
            mic_offsets_m=self.header_mic_offsets,
        )

    @property
    def header_mic_offsets(self) -> list[tuple[float, ...]] | None:
        """The array geometry frames carry (None for a single microphone)."""
        if self.num_channels < 2:
            return None
        return [tuple(float(v) for v in o) for o in self.mic_offsets_m]
