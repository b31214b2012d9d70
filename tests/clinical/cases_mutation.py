"""More clinical cases, each pinning a rule's edge that the main table (cases.py) left open; found by a
mutation run over the rules (benchmarks/mutate_rules.py). Written like cases.py: from the clinic's side
first, with the rule and source each checks; test_cases.py runs them through every record path.

Unless a case says otherwise: kap-iv, a 45-year-old with nothing found at screening, 70 kg; SpO2 97 %,
pulse 72 /min every second; a cuff reading of 120/78 every 5 min from the start; 30 minutes.
"""

from __future__ import annotations

from tests.clinical.recordings import GAP, Case, Expect

CASES: tuple[Case, ...] = (
    # ------------------------------------------------------------------ technical alarms
    Case("probe-off-45-s-no-stale-after",
         "The oximeter says its probe is off at 12 min (LOW 'sensor off' after 10 s); 45 s later it says the probe "
         "is back and the first reading comes 5 s after that. The device explained the gap: no 'no valid data' "
         "alarm on top, at any point.",
         "a no-data device condition explains the silence, and its end restarts the quiet time (Mindray-EPM10M; "
         "stale: design proposal after Philips-MP2)",
         Expect(raised=(("sensor_off:ox", "low", 12 + 10 / 60, 0),), absent=("spo2_stale", "pr_stale", "physiological")),
         minutes=20, conditions=((12, "sensor_off", True, ("spo2", "pr")), (12.75, "sensor_off", False, ("spo2", "pr"))),
         spo2=((12, 12.75 + 5 / 60, None),), pr=((12, 12.75 + 5 / 60, None),)),
    Case("spo2-0-for-a-minute-one-check-not-stale",
         "SpO2 reads 0 for a whole minute (the probe is slipping): one 'check sensor' alarm after 10 s, and not a "
         "second 'no valid data' alarm 30 s in: the check already says why there is no trusted SpO2.",
         "plausibility SpO2 30-100 (Mindray-N22); a questionable value explains the silence",
         Expect(raised=(("spo2_check", "low", 12 + 10 / 60, 0),), absent=("spo2_stale", "physiological"),
                episodes={"spo2_check": 1}),
         minutes=20, spo2=((12, 13, 0),)),
    Case("low-battery-does-not-explain-no-data",
         "The oximeter warns its battery is low at 11 min, then sends nothing for a minute from 12 min. A low "
         "battery is not a reason for no data: SpO2 and pulse 'no valid data' alarms 30 s after the last reading.",
         "stale after 30 s (design proposal after Philips-MP2); only no-data conditions explain a gap",
         Expect(raised=(("low_battery:ox", "low", 11 + 10 / 60, 0), ("spo2_stale", "low", 12 + 29 / 60, 0),
                        ("pr_stale", "low", 12 + 29 / 60, 0))),
         minutes=20, conditions=((11, "low_battery", True, ("spo2", "pr")),), spo2=((12, 13, GAP),), pr=((12, 13, GAP),)),
    Case("bp-40-min-at-window-start-counts",
         "IV dose at 5 min; the only cuff after it is at exactly 35 min, the first minute of the ~40-min window "
         "(30 to 50 min after the dose). It is the ~40-min BP: no reminder.",
         "checkpoint bp_40min, window 40 +/- 10 min inclusive (REMS-form; Yale-2342)",
         Expect(absent=("bp_40min",)), minutes=60, cuff_every_min=None, doses=((5, 35, 40),),
         bp={0: (120, 78), 5: (120, 78), 35: (122, 80)}),
    Case("bp-40-min-at-window-end-counts",
         "IV dose at 5 min; cuffs every 5 min to 30 min, then one at exactly 55 min, the last minute of the ~40-min "
         "window. It is the ~40-min BP: no reminder.",
         "checkpoint bp_40min, window 40 +/- 10 min inclusive (REMS-form; Yale-2342)",
         Expect(absent=("bp_40min",)), minutes=60, cuff_every_min=None, doses=((5, 35, 40),),
         bp={**{m: (120, 78) for m in range(0, 35, 5)}, 55: (122, 80)}),
    # ------------------------------------------------------------------ the pre-dose decision
    Case("questionable-cuff-does-not-decide-dosing",
         "Pre-dose cuffs of 120/78, then at 7 min a reading of 150/160: a diastolic above the systolic is an "
         "artefact. Both values are kept as questionable ('check cuff' at once), and the decision stays on the last "
         "good reading: clear, not blocked.",
         "plausibility: diastolic below systolic (design proposal); questionable values never decide dosing",
         Expect(raised=(("sbp_check", "low", 7, 0), ("dbp_check", "low", 7, 0)), decisions=((6, "clear"), (8, "clear"))),
         minutes=9, bp={7: (150, 160)}),
    Case("recheck-exactly-5-min-after-clears",
         "146/88 before dosing (gated). After 5 min of rest, exactly 5 min after the raised reading, 132/84: the "
         "re-measure counts and the gate lifts.",
         "predose_bp_gate recheck_after_min = 5, 'at least' 5 min (clinical-reference §4: recheck after 5-10 min rest)",
         Expect(decisions=((1, "gated"), (5.5, "clear"))), minutes=7, cuff_every_min=None, bp={0: (146, 88), 5: (132, 84)}),
)
