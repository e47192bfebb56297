"""The built-in demo scenario: a drone drop over the yard and a phone call in cell block A.

Site `demo`, site-local metres: the wall runs along y = 0, inside is y > 0.

Timeline (90 s, looping):
- 0–35 s  a Phantom-class drone (1.4 kg + 0.5 kg payload, 0.24 m props) flies from
          (20, −250, 50) to over the yard at (20, 30, 50) at 8 m/s;
- 35–55 s it hovers there and releases the payload at 45 s (BPF falls ≈ 214 → 184 Hz);
- 55–90 s it leaves to (−30, −250, 50).
  Its ExpressLRS 2.4 GHz link runs throughout: the pilot's radio at (−60, −320, 1.5)
  sends, the drone answers with telemetry on 1 packet in 16.
- 1–61 s  a handset in a cell of block A at (70, 85, 1) is in a GSM-900 voice call
          (ARFCN 40, 898.0 MHz, 33 dBm, 15 dB wall loss).
- always  a Wi-Fi access point (channel 6) in the staff block outside at (−120, 150, 6).

Sensors: `rf-wall-n` (2.4 GHz SDR snapshots on the wall), `rf-cellblock-a` (GSM-900
uplink SDR in the cell block), `mic-wall-n` (microphone on the wall).
"""

from __future__ import annotations

import numpy as np

from simulator.acoustic_emitters import Ambience, RotorSource
from simulator.collectors import AudioCollector, RfCollector, SensorSpec
from simulator.rf_emitters import ElrsLink, GsmHandset, WifiAccessPoint
from simulator.scenario import LinkBudget, Message, Scenario, TruthInterval
from simulator.trajectory import Track, Waypoint

__all__ = ["LinkBudget", "Message", "Scenario", "SensorSpec", "TruthInterval", "demo_scenario"]

DEMO_DURATION_S = 90.0

DEMO_ZONES: dict[str, list[tuple[float, float]]] = {
    "outer-perimeter": [(-400.0, -500.0), (400.0, -500.0), (400.0, 0.0), (-400.0, 0.0)],
    "yard": [(-400.0, 0.0), (400.0, 0.0), (400.0, 60.0), (-400.0, 60.0)],
    "cell-block-a": [(30.0, 60.0), (90.0, 60.0), (90.0, 100.0), (30.0, 100.0)],
}


def demo_scenario(*, site: str = "demo", seed: int = 1) -> Scenario:
    rng = np.random.default_rng([seed, 0xDE30])
    drone = Track(
        [
            Waypoint(0.0, 20.0, -250.0, 50.0),
            Waypoint(35.0, 20.0, 30.0, 50.0),  # 280 m at 8 m/s
            Waypoint(55.0, 20.0, 30.0, 50.0),  # hover: the drop
            Waypoint(DEMO_DURATION_S, -30.0, -250.0, 50.0),
        ]
    )
    pilot = Track.fixed((-60.0, -320.0, 1.5))
    handset = Track.fixed((70.0, 85.0, 1.0))
    access_point = Track.fixed((-120.0, 150.0, 6.0))

    rf_wall = RfCollector(
        SensorSpec("rf-wall-n", "rf", "iq", (0.0, 5.0, 4.0), "yard"),
        center_freq_hz=2437e6,
        sample_rate_hz=25e6,
        snapshot_s=20e-3,
        period_s=200e-3,
        noise_figure_db=6.0,
        full_scale_dbm=-30.0,  # floor at −94 dBm = −64 dBFS ≈ 21 LSB rms; clips at −30 dBm
    )
    rf_cells = RfCollector(
        SensorSpec("rf-cellblock-a", "rf", "iq", (60.0, 80.0, 3.0), "cell-block-a"),
        center_freq_hz=897.5e6,
        sample_rate_hz=2e6,
        snapshot_s=50e-3,
        period_s=250e-3,
        noise_figure_db=6.0,
        full_scale_dbm=-25.0,  # floor −105 dBm = −80 dBFS ≈ 3.3 LSB rms; the call arrives ≈ −35 dBm
    )
    mic = AudioCollector(
        SensorSpec("mic-wall-n", "acoustic", "audio", (10.0, 5.0, 2.0), "yard"),
        sample_rate_hz=16_000.0,
        frame_s=1.0,
        full_scale_db_spl=120.0,
        ambience=Ambience(level_dba=45.0, self_noise_dba=20.0),
    )

    elrs = ElrsLink(
        "drone-1", pilot=pilot, drone=drone, seed=seed, start_s=0.0, end_s=DEMO_DURATION_S,
        crystal_ppm=float(rng.uniform(-10.0, 10.0)),
    )  # fmt: skip
    phone = GsmHandset("handset-1", handset, seed, call_start_s=1.0, call_end_s=61.0, arfcn=40)
    wifi = WifiAccessPoint("wifi-ap-1", access_point, seed, channel=6, eirp_dbm=17.0)
    rotors = RotorSource(
        "drone-1",
        drone,
        seed,
        DEMO_DURATION_S,
        mass_kg=1.4,
        payload_kg=0.5,
        drop_s=45.0,
        prop_diameter_m=0.24,
        l_wa_db=85.0,
        rpm_factor=((0.0, 1.08), (34.0, 1.08), (36.0, 1.0), (55.0, 1.0), (57.0, 1.08),
                    (DEMO_DURATION_S, 1.08)),
    )  # fmt: skip

    d0 = drone.point(0.0)
    truth = [  # source ids as the ELRS bursts and budgets name the two ends of the link
        TruthInterval("drone-1", "drone", "rotor_harmonics", 0.0, DEMO_DURATION_S, d0, moving=True),
        TruthInterval(
            "drone-1",
            "drone",
            "elrs_2g4",
            0.0,
            DEMO_DURATION_S,
            d0,
            moving=True,
            source_id="drone-1/drone",
        ),
        TruthInterval(
            "drone-1-rc",
            "drone",
            "elrs_2g4",
            0.0,
            DEMO_DURATION_S,
            pilot.point(0.0),
            source_id="drone-1/pilot",
        ),
        TruthInterval("handset-1", "handset", "gsm_uplink", 1.0, 61.0, handset.point(0.0)),
        TruthInterval(
            "wifi-ap-1", "other", "wifi_ap", 0.0, DEMO_DURATION_S, access_point.point(0.0)
        ),
    ]
    return Scenario(
        site=site,
        duration_s=DEMO_DURATION_S,
        seed=seed,
        zones={k: list(v) for k, v in DEMO_ZONES.items()},
        collectors=[rf_wall, rf_cells, mic],
        rf_emitters=[elrs, phone, wifi],
        acoustic_sources=[rotors],
        tracks={"drone-1": drone, "drone-1-rc": pilot, "handset-1": handset,
                "wifi-ap-1": access_point},
        truth_intervals=truth,
        description=__doc__ or "",
    )  # fmt: skip
