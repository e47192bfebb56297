"""The RF channel of `RfCollector`: walls, fading, LO offset, ADC clipping, sweeps."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from numpy.typing import NDArray

from sensor_hub.codec import decode_frame, encode_samples
from simulator.collectors import RfCollector, SensorSpec
from simulator.propagation import Wall, fading_gain, received_power_dbm, wall_loss_db
from simulator.rf_emitters import Burst, phasor, shift_phase
from tests.simulator._sim_helpers import power_dbm

FC_HZ = 2440e6
FS_HZ = 4e6
RNG = np.random.default_rng(0)


def _tone(t_first_s: float, fs: float, n: int, offset_hz: float) -> NDArray[np.complex64]:
    return phasor(shift_phase(t_first_s, fs, n, offset_hz))


@dataclass
class ToneEmitter:
    """A CW carrier keyed in `burst_s` bursts every `period_s` (unit power while keyed)."""

    emitter_id: str
    position_m: tuple[float, float, float]
    freq_hz: float = FC_HZ + 0.5e6
    eirp_dbm: float = 10.0
    burst_s: float = 1.0
    period_s: float = 1.0
    kind: str = "other"
    signature: str = "cw"

    def bursts(self, t_from_s: float, t_to_s: float, loop_index: int) -> Iterator[Burst]:
        for k in range(math.floor(t_from_s / self.period_s), math.ceil(t_to_s / self.period_s)):
            start = k * self.period_s
            if start + self.burst_s > t_from_s and start < t_to_s:
                yield Burst(start, self.burst_s, self.freq_hz, 10e3, self.eirp_dbm,
                            self.position_m, _tone, source_id=self.emitter_id)  # fmt: skip


def _collector(**kw: object) -> RfCollector:
    base = RfCollector(
        SensorSpec("rf-t", "rf", "iq", (0.0, 0.0, 3.0), "z"),
        center_freq_hz=FC_HZ,
        sample_rate_hz=FS_HZ,
        snapshot_s=5e-3,
        period_s=5e-3,
        full_scale_dbm=-20.0,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- walls


@pytest.mark.parametrize(
    ("a", "b", "wall", "crossed"),
    [
        ((0, -10, 1), (0, 10, 1), Wall((-5, 0), (5, 0), 20.0), True),
        ((0, -10, 1), (0, -1, 1), Wall((-5, 0), (5, 0), 20.0), False),  # stops short
        ((10, -10, 1), (10, 10, 1), Wall((-5, 0), (5, 0), 20.0), False),  # beside it
        ((-10, 1, 1), (10, 1, 1), Wall((-5, 0), (5, 0), 20.0), False),  # parallel
        ((0, -10, 1), (0, 10, 1), Wall((-5, 0), (5, 0), 20.0, height_m=5.0), True),
        ((0, -10, 50), (0, 10, 4), Wall((-5, 0), (5, 0), 20.0, height_m=5.0), False),  # over
    ],
)
def test_wall_crossing_geometry(a, b, wall, crossed) -> None:  # type: ignore[no-untyped-def]
    assert wall.crossed_by(a, b) is crossed
    assert wall_loss_db(a, b, [wall, wall]) == (40.0 if crossed else 0.0)


def test_a_20_db_wall_on_the_path_lowers_received_power_by_20_db() -> None:
    tx = ToneEmitter("cw", (0.0, 80.0, 3.0))
    on_path = Wall((-50.0, 40.0), (50.0, 40.0), 20.0)
    off_path = Wall((60.0, -50.0), (60.0, 50.0), 20.0)
    clear = _collector().render([tx], 0.0, RNG, include_noise=False)
    walled = _collector(walls=(on_path,)).render([tx], 0.0, RNG, include_noise=False)
    aside = _collector(walls=(off_path,)).render([tx], 0.0, RNG, include_noise=False)
    p_clear, p_walled = power_dbm(clear, -20.0), power_dbm(walled, -20.0)
    assert p_clear == pytest.approx(received_power_dbm(10.0, tx.freq_hz, 80.0), abs=0.1)
    assert p_clear - p_walled == pytest.approx(20.0, abs=0.5)
    np.testing.assert_array_equal(aside, clear)


# ---------------------------------------------------------------- frequency offset


@pytest.mark.parametrize("ppm", [-3.0, 0.0, 2.0])
def test_lo_offset_shifts_a_tone_by_ppm_of_the_centre(ppm: float) -> None:
    tx = ToneEmitter("cw", (0.0, 50.0, 3.0), freq_hz=FC_HZ + 0.5e6)
    x = _collector(frequency_offset_ppm=ppm).render([tx], 0.0, RNG, include_noise=False)
    measured_hz = float(np.angle(np.vdot(x[:-1], x[1:]))) * FS_HZ / (2 * np.pi)
    expected_hz = 0.5e6 - FC_HZ * ppm * 1e-6  # the LO sits at f_c·(1 + ppm·1e-6)
    assert measured_hz == pytest.approx(expected_hz, abs=1.0)


# ---------------------------------------------------------------- ADC clipping


@pytest.mark.parametrize("datatype", ["ci16_le", "ci8", "cf32_le"])
def test_a_too_strong_signal_clips_at_full_scale(datatype: str) -> None:
    tx = ToneEmitter("cw", (0.0, 5.0, 3.0), eirp_dbm=30.0)  # ≈ −24 dBm vs −40 dBm full scale
    c = _collector(full_scale_dbm=-40.0, datatype=datatype)
    x = c.render([tx], 0.0, RNG)
    iq = x.view(np.float32)
    assert np.abs(iq).max() == 1.0
    assert np.mean(np.abs(iq) == 1.0) > 0.5  # a +16 dB sine spends most of its time clipped
    frame = decode_frame(encode_samples(c.header(site="s", seq=0, boot_id="b", t0_ns=0), x))
    assert np.abs(frame.samples.view(np.float32)).max() <= 1.0
    unclipped = dataclasses.replace(c, adc_clipping=False).render([tx], 0.0, RNG)
    assert np.abs(unclipped.view(np.float32)).max() > 5.0


def test_signals_below_full_scale_are_not_touched_by_clipping() -> None:
    tx = ToneEmitter("cw", (0.0, 60.0, 3.0))
    a = _collector().render([tx], 0.0, np.random.default_rng(1))
    b = _collector(adc_clipping=False).render([tx], 0.0, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- fading


@pytest.mark.parametrize(("model", "k_db"), [("rayleigh", 0.0), ("rician", 10.0)])
def test_fading_gain_has_unit_mean_power(model: str, k_db: float) -> None:
    rng = np.random.default_rng(5)
    g = np.array([fading_gain(model, rng, rician_k_db=k_db) for _ in range(20_000)])  # type: ignore[arg-type]
    p = np.abs(g) ** 2
    assert np.mean(p) == pytest.approx(1.0, abs=0.03)
    if model == "rayleigh":  # |h|² exponential: var = mean²
        assert np.var(p) == pytest.approx(1.0, abs=0.1)
    else:  # Rician K = 10: var = (2K + 1)/(K + 1)² ≈ 0.174
        assert np.var(p) == pytest.approx(21 / 121, abs=0.03)


def _burst_powers(c: RfCollector, tx: ToneEmitter, loop_index: int = 0) -> NDArray[np.float64]:
    x = c.render([tx], 0.0, RNG, loop_index, include_noise=False)
    n_burst = round(tx.burst_s * FS_HZ)
    n_period = round(tx.period_s * FS_HZ)
    return np.array(
        [np.mean(np.abs(x[k + 10 : k + n_burst - 10]) ** 2) for k in range(0, len(x), n_period)]
    )


def test_rayleigh_fading_varies_per_burst_and_repeats_with_the_seed() -> None:
    tx = ToneEmitter("cw", (0.0, 60.0, 3.0), burst_s=0.2e-3, period_s=0.5e-3)
    c = _collector(fading="rayleigh", fading_seed=3, snapshot_s=20e-3)
    p = _burst_powers(c, tx)
    assert len(p) == 40
    assert np.std(10 * np.log10(p)) > 3.0  # Rayleigh: ≈ 5.6 dB spread
    np.testing.assert_array_equal(p, _burst_powers(c, tx))
    assert not np.allclose(p, _burst_powers(dataclasses.replace(c, fading_seed=4), tx))
    assert not np.allclose(p, _burst_powers(c, tx, loop_index=1))
    flat = _burst_powers(_collector(snapshot_s=20e-3), tx)
    assert np.ptp(10 * np.log10(flat)) < 0.01


# ---------------------------------------------------------------- tuning plans


def test_sweep_sets_the_centre_per_snapshot_and_only_the_tuned_band_is_heard() -> None:
    f_a, f_b = 2412e6, 2462e6
    c = _collector(
        center_freq_hz=f_a,
        sweep=((f_a, 0.1), (f_b, 0.2)),
        period_s=0.05,
        frames_per_loop=12,
    )
    centres = [c.frame_center_freq_hz(k) for k in range(12)]
    assert centres == [f_a] * 2 + [f_b] * 4 + [f_a] * 2 + [f_b] * 4
    tx = ToneEmitter("cw", (0.0, 50.0, 3.0), freq_hz=f_a + 0.3e6, burst_s=10.0, period_s=10.0)
    for k, fc in enumerate(centres[:6]):
        x = c.render([tx], c.frame_start_s(k), RNG, include_noise=False)
        assert bool(np.count_nonzero(x)) is (fc == f_a), k
    # the header states the centre the snapshot used, also for a looped run's seq
    for seq in (0, 3, 12 + 3):
        h = c.header(site="s", seq=seq, boot_id="b", t0_ns=0)
        assert h.center_freq_hz == centres[seq % 12]
    assert c.header(site="s", seq=15, boot_id="b", t0_ns=0, frame_index=0).center_freq_hz == f_a


def test_fixed_tuning_header_unchanged() -> None:
    c = _collector()
    assert c.header(site="s", seq=7, boot_id="b", t0_ns=0).center_freq_hz == FC_HZ
    assert c.center_freq_at(123.4) == FC_HZ
