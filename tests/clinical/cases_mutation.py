"""More clinical cases, each pinning a rule's edge that the main table (cases.py) left open; found by a
mutation run over the rules (benchmarks/mutate_rules.py). Written like cases.py: from the clinic's side
first, with the rule and source each checks; test_cases.py runs them through every record path.

Unless a case says otherwise: kap-iv, a 45-year-old with nothing found at screening, 70 kg; SpO2 97 %,
pulse 72 /min every second; a cuff reading of 120/78 every 5 min from the start; 30 minutes.
"""

from __future__ import annotations

from tests.clinical.recordings import GAP, Case, Expect, ramp

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
         "(30 to 50 min after the dose). It is the ~40-min BP: no reminder, and the summary's ~40-min BP.",
         "checkpoint bp_40min, window 40 +/- 10 min inclusive (REMS-form; Yale-2342)",
         Expect(absent=("bp_40min",), summary={"rems.checkpoint_bp.t": 35 * 60}), minutes=60, cuff_every_min=None, doses=((5, 35, 40),),
         bp={0: (120, 78), 5: (120, 78), 35: (122, 80)}),
    Case("bp-40-min-at-window-end-counts",
         "IV dose at 5 min; cuffs every 5 min to 30 min, then one at exactly 55 min, the last minute of the ~40-min "
         "window. It is the ~40-min BP: no reminder, and the summary's ~40-min BP.",
         "checkpoint bp_40min, window 40 +/- 10 min inclusive (REMS-form; Yale-2342)",
         Expect(absent=("bp_40min",), summary={"rems.checkpoint_bp.t": 55 * 60}), minutes=60, cuff_every_min=None, doses=((5, 35, 40),),
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
    # ------------------------------------------------------------------ summary and discharge
    Case("baseline-pulse-last-2-min-both-ends",
         "Pulse 90 until 8 min, 70 for the next minute, 80 for the last minute before the dose at 10 min. The baseline "
         "pulse is the median of the last 2 min before the dose, both ends counted (61 readings of 70, 60 of 80): 70.",
         "baseline: median of the last 120 s of continuous vitals before the first dose (design proposal; Sanacora)",
         Expect(summary={"baseline.pr": 70, "baseline.spo2": 97}),
         minutes=15, doses=((10, 35, 40),), pr=((8, 9 + 0.5 / 60, 70), (9 + 0.5 / 60, 10 + 0.5 / 60, 80), (0, 8, 90))),
    Case("two-doses-observation-from-the-last",
         "IM ketamine at 5 min and a top-up at 20 min. The summary's first dose is at 5 min; the minimum observation "
         "(60 min) runs from the last dose, so discharge criteria are met from 80 min, not 65.",
         "route observation_min 60 after the last dose (REMS-form; KetRes-IM); first dose = the earliest",
         Expect(summary={"first_dose_s": 300, "discharge.t": 80 * 60, "discharge.how": "criteria"}),
         protocol="kap-im", minutes=90, doses=((5, 50, None), (20, 20, None))),
    Case("spo2-exactly-90-is-not-below-90",
         "SpO2 90 % for a minute after the dose: the limit is 'below 90', so no alarm, and the summary counts no time "
         "below 90 %; the lowest SpO2 is 90.",
         "spo2_low <90 (Mindray-TM70); time below 90 counts values below 90 only",
         Expect(absent=("spo2_low",), summary={"time_spo2_below_90_s": 0, "lowest_spo2": 90}),
         minutes=20, doses=((10, 35, 40),), spo2=ramp(12, [93]) + ((12 + 1 / 60, 13, 90),) + ramp(13, [93])),
    Case("discharge-waits-for-the-alarm-to-clear",
         "IM dose at 5 min. The observation is over at 65 min, but the pulse is 125 from 60 min (a MEDIUM alarm after "
         "10 s) until it falls back at 75 min: discharge criteria are met from the moment the alarm clears.",
         "discharge no_active_alarm (clinical-reference §7: Aldrete; PADSS); pr_high >120 (Mindray TD60)",
         Expect(raised=(("pr_high", "medium", 60 + 12 / 60, 0),), summary={"discharge.t": 75 * 60, "discharge.how": "criteria"}),
         protocol="kap-im", minutes=90, doses=((5, 70, None),),
         pr=ramp(60, [95, 115]) + ((60 + 2 / 60, 75, 125),) + ramp(75, [100, 80])),
    Case("data-stop-before-the-end-discharge-not-met",
         "IM dose at 5 min; every device stops sending at 80 min while the session runs to 90 min. The 'no valid "
         "data' alarms are still active at the end, so the discharge criteria are not met by the end (someone must "
         "say why the monitoring stopped).",
         "discharge no_active_alarm, judged at the end of the record (clinical-reference §7: Aldrete; PADSS)",
         Expect(raised=(("spo2_stale", "low", 80 + 29 / 60, 0),), summary={"discharge.how": "not met"}),
         protocol="kap-im", minutes=90, doses=((5, 70, None),), bp={85: None},
         spo2=((80, 90, GAP),), pr=((80, 90, GAP),), hr=((80, 90, GAP),)),
)
