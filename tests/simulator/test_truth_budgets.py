"""Link budgets in truth.json: every RF type, in-band SNR vs rendered IQ, walls, sweeps, ids."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensor_hub.codec import decode_frame
from simulator.capture import record, truth_document
from simulator.collectors import RfCollector
from simulator.link_budget import BudgetedEmitter
from simulator.propagation import SPEED_OF_LIGHT_M_S, distance_m
from simulator.registry import lookup, registered
from simulator.scenario import Scenario
from simulator.scenario_file import build_scenario, load_scenario, parse_scenario

GALLERY = Path(__file__).parents[2] / "simulator" / "gallery" / "gallery.yaml"
SITE: dict[str, Any] = {"name": "t", "zones": {"all": [[-900, -900], [900, -900], [900, 900]]}}
TRUTH_ARGS: dict[str, Any] = {"start_time_ns": 0, "boot_id": "b"}
ISM = ("rf-ism", "rf-ism-rc", "rf-droneid")


def _scenario(
    sensors: list[dict[str, Any]], emitters: list[dict[str, Any]], **site: Any
) -> Scenario:
    doc = {"duration_s": 2.0, "seed": 5, "site": SITE | site, "sensors": sensors,
           "emitters": emitters}  # fmt: skip
    return build_scenario(parse_scenario(doc))


def _rf(sid: str, fc: float, fs: float, snapshot_s: float = 0.02, **more: Any) -> dict[str, Any]:
    rf = {"center_freq_hz": fc, "sample_rate_hz": fs, "snapshot_s": snapshot_s, "period_s": 0.5}
    return {"id": sid, "modality": "rf", "position": [0, 0, 5], "zone": "all", "rf": rf | more}


@pytest.fixture(scope="module")
def gallery() -> Scenario:
    return load_scenario(GALLERY)


# ---------------------------------------------------------------- every type, heard or not

#: the sensors of gallery.yaml that can hear each RF signature (the rest cannot)
HEARD_BY = {
    "wifi_ap": {"rf-ism"}, "wifi_drone": {"rf-ism"}, "wifi_probe": {"rf-ism"},
    "ble_adv": {"rf-ism"}, "microwave_oven": {"rf-ism"}, "dji_ocusync_video": {"rf-ism"},
    "elrs_2g4": set(ISM), "frsky_d16": set(ISM), "dji_droneid": {"rf-ism", "rf-droneid"},
    "fpv_analog_video": {"rf-fpv"}, "gsm_uplink": {"rf-gsm"}, "lte_uplink": {"rf-b20-ul"},
    "lte_prach": {"rf-b20-ul"}, "cellular_downlink": {"rf-b20-dl"}, "tetra": {"rf-pmr"},
    "dmr": {"rf-pmr"},
}  # fmt: skip


def test_every_registered_rf_type_gets_an_snr_where_heard_and_none_elsewhere(
    gallery: Scenario,
) -> None:
    rf_types = {n for n in registered() if (e := lookup(n)) is not None and e.modality == "rf"}
    assert {em.signature for em in gallery.rf_emitters} == rf_types == set(HEARD_BY)
    assert all(isinstance(em, BudgetedEmitter) for em in gallery.rf_emitters)
    doc = truth_document(gallery, duration_s=gallery.duration_s, **TRUTH_ARGS)
    rf_sensors = {s.sensor_id for s in gallery.sensors if s.modality == "rf"}
    seen = set()
    for e in doc["emissions"]:
        if e["signature"] in HEARD_BY:
            heard = set(e["snr_db"]) & rf_sensors
            assert heard == HEARD_BY[e["signature"]], e["source_id"]
            assert all(v > 15 for v in e["snr_db"].values()), e
            seen.add(e["signature"])
    assert seen == rf_types
    # the sweeping PMR sensor hears TETRA and DMR although each only on one of its dwells
    assert {e["signature"] for e in doc["emissions"] if "rf-pmr" in e["snr_db"]} == {
        "tetra",
        "dmr",
    }


# ---------------------------------------------------------------- SNR vs rendered IQ


def _welch_obw_hz(x: np.ndarray[Any, Any], fs: float, n: int = 1024) -> float:
    """99 % occupied bandwidth of an averaged periodogram (every part of x weighs the same)."""
    segs = x[: len(x) // n * n].reshape(-1, n) * np.hanning(n)
    psd = np.mean(np.abs(np.fft.fftshift(np.fft.fft(segs, axis=1), axes=1)) ** 2, axis=0)
    cum = np.cumsum(psd) / np.sum(psd)
    f = np.fft.fftshift(np.fft.fftfreq(n, 1.0 / fs))
    return float(f[np.searchsorted(cum, 0.995)] - f[np.searchsorted(cum, 0.005)])


def _rendered_snr_db(
    sc: Scenario, sid: str, k: int, source: str | None = None, *, measure_bw: bool = False
) -> float:
    """In-band SNR measured on frame k: mean power over the keyed samples of the emitter's
    bursts (signals only) over the rendered noise scaled to the burst's occupied band
    (`measure_bw`: the 99 % bandwidth of the keyed samples, for the oven's sweep)."""
    c = sc.collector(sid)
    assert isinstance(c, RfCollector)
    x = sc.render(sid, k, include_noise=False)
    noise = sc.render(sid, k, include_signals=False)
    fs, t0 = c.sample_rate_hz, c.frame_start_s(k)
    fc = c.frame_center_freq_hz(k)
    powers, bws, keyed = [], [], []
    for em in sc.rf_emitters:
        for b in em.bursts(t0, t0 + c.frame_duration_s, 0):
            if source is not None and not b.source_id.endswith(source):
                continue
            if not c.in_band(b.freq_hz, b.bandwidth_hz, center_freq_hz=fc):
                continue
            t_arr = (
                b.start_s + float(distance_m(b.position_m, c.spec.position)) / SPEED_OF_LIGHT_M_S
            )
            k0, k1 = math.ceil((t_arr - t0) * fs), math.floor((t_arr + b.duration_s - t0) * fs)
            margin = max(2, (k1 - k0) // 20)  # ramps
            k0, k1 = max(0, k0 + margin), min(len(x), k1 - margin)
            if k1 - k0 > 100:
                powers.append(float(np.mean(np.abs(x[k0:k1]) ** 2)))
                bws.append(b.bandwidth_hz)
                keyed.append(x[k0:k1])
    assert powers, f"no burst of {source} in frame {k} of {sid}"
    bw = _welch_obw_hz(np.concatenate(keyed), fs) if measure_bw else bws[0]
    return float(10 * np.log10(np.mean(powers) / (np.mean(np.abs(noise) ** 2) * bw / fs)))


@pytest.mark.parametrize(
    ("signature", "sensor", "emitter_params", "source"),
    [
        ("gsm_uplink", _rf("rf", 897.5e6, 2e6), {}, None),
        ("dji_droneid", _rf("rf", 2444.5e6, 15.36e6, 0.35),
         {"channels_hz": [2444.5e6], "period_s": 0.3}, None),
        ("lte_uplink", _rf("rf", 847e6, 15.36e6, 0.01), {"behaviour": "data",
                                                         "data_prbs": [10, 10]}, "/pusch"),
        ("microwave_oven", _rf("rf", 2455e6, 50e6, 0.02), {}, None),
    ],
)  # fmt: skip
def test_truth_snr_matches_rendered_in_band_power_over_noise(
    signature: str, sensor: dict[str, Any], emitter_params: dict[str, Any], source: str | None
) -> None:
    emitter = {"id": "e", "type": signature, "trajectory": {"position": [60, 80, 2]},
               "params": emitter_params}  # fmt: skip
    sc = _scenario([sensor], [emitter])
    doc = truth_document(sc, duration_s=sc.duration_s, **TRUTH_ARGS)
    (e,) = doc["emissions"]
    assert e["source_id"] == "e"
    oven = signature == "microwave_oven"  # its band is the sweep, wider than any one burst
    rendered = _rendered_snr_db(sc, "rf", 0, source, measure_bw=oven)
    assert e["snr_db"]["rf"] == pytest.approx(rendered, abs=1.0)


# ---------------------------------------------------------------- walls


def test_walls_reduce_truth_snr_by_their_attenuation() -> None:
    sensor = _rf("rf", 897.5e6, 2e6)
    phone = {"id": "h", "type": "gsm_uplink", "trajectory": {"position": [60, 80, 2]}}
    wall = {"segment": [[-100, 40], [100, 40]], "attenuation_db": 12.5}
    open_ = truth_document(_scenario([sensor], [phone]), duration_s=2, **TRUTH_ARGS)
    walled_sc = _scenario([sensor], [phone], walls=[wall])
    walled = truth_document(walled_sc, duration_s=2, **TRUTH_ARGS)
    drop = open_["emissions"][0]["snr_db"]["rf"] - walled["emissions"][0]["snr_db"]["rf"]
    assert drop == pytest.approx(12.5, abs=0.01)
    assert walled["emissions"][0]["snr_db"]["rf"] == pytest.approx(
        _rendered_snr_db(walled_sc, "rf", 1), abs=1.0
    )


# ---------------------------------------------------------------- sweeps

PMR_SWEEP = [{"center_freq_hz": 382.5e6, "dwell_s": 1}, {"center_freq_hz": 453.5e6, "dwell_s": 1}]


def _pmr_scenario() -> Scenario:
    sensor = _rf("pmr", 0, 250e3, 0.1)
    sensor["rf"] = {k: v for k, v in sensor["rf"].items() if k != "center_freq_hz"}
    sensor["rf"] |= {"sweep": PMR_SWEEP, "datatype": "cf32_le", "full_scale_dbm": -20}
    return _scenario(
        [sensor],
        [{"id": "tetra", "type": "tetra", "trajectory": {"position": [200, 0, 1.5]}},
         {"id": "dmr", "type": "dmr", "trajectory": {"position": [0, 250, 1.5]}}],
    )  # fmt: skip


def test_sweeping_sensor_headers_follow_the_plan_on_every_loop() -> None:
    sc = _pmr_scenario()
    c = sc.collector("pmr")
    assert isinstance(c, RfCollector)
    plan = [382.5e6, 382.5e6, 453.5e6, 453.5e6]  # frames at 0, 0.5, 1.0, 1.5 s
    sc.collectors[0] = type(c)(**{**c.__dict__, "frames_per_loop": None})  # no seq hint
    for loop in (0, 2):
        got = [
            decode_frame(
                sc.frame_bytes("pmr", k, start_time_ns=0, loop_index=loop)
            ).header.center_freq_hz
            for k in range(4)
        ]
        assert got == plan


def test_sweeping_sensor_capture_segments_and_annotations(tmp_path: Path) -> None:
    record(_pmr_scenario(), tmp_path)
    meta = json.loads((tmp_path / "pmr.sigmf-meta").read_text())
    centres = [cap["core:frequency"] for cap in meta["captures"]]
    assert centres == [382.5e6, 382.5e6, 453.5e6, 453.5e6]
    seg_len = meta["captures"][1]["core:sample_start"]
    labels = {382.5e6: set(), 453.5e6: set()}  # type: dict[float, set[str]]
    for a in meta["annotations"]:
        fc = centres[a["core:sample_start"] // seg_len]
        assert fc - 125e3 <= a["core:freq_lower_edge"] < a["core:freq_upper_edge"] <= fc + 125e3
        labels[fc].add(a["core:label"])
    assert labels == {382.5e6: {"tetra"}, 453.5e6: {"dmr"}}
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["sensors"][0]["sweep"] == [[382.5e6, 1.0], [453.5e6, 1.0]]
    assert all(set(e["snr_db"]) == {"pmr"} for e in truth["emissions"])


# ---------------------------------------------------------------- ids


def test_truth_ids_are_the_budget_and_burst_ids(gallery: Scenario) -> None:
    truth_ids = {iv.budget_id for iv in gallery.truth() if iv.signature in HEARD_BY}
    budget_ids = {
        b.emitter_id
        for t in np.arange(0.25, gallery.duration_s, 0.5)
        for b in gallery.link_budgets(float(t))
        if b.unit == "dBm"
    }
    assert truth_ids == budget_ids
    assert {"elrs/pilot", "elrs/drone", "frsky/pilot", "frsky/drone"} <= truth_ids
    by_id = {iv.emitter_id: iv.budget_id for iv in gallery.truth() if iv.signature == "elrs_2g4"}
    assert by_id == {"elrs": "elrs/drone", "elrs-pilot": "elrs/pilot"}
    elrs = next(em for em in gallery.rf_emitters if em.signature == "elrs_2g4")
    assert {b.source_id for b in elrs.bursts(12.0, 12.1, 0)} == {"elrs/pilot", "elrs/drone"}
