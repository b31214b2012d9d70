"""The clinician's cases: each written from the clinic's side first (who, what was measured, what was
given -> what kapmon must decide, raise and report), with the rule and the source it checks.

Unless a case says otherwise: kap-iv, a 45-year-old with nothing found at screening, 70 kg; SpO2 97 %,
pulse 72 /min every second; a cuff reading of 120/78 every 5 min from the start; 30 minutes.
Times are minutes from the start of the session; tolerances in seconds.
"""

from __future__ import annotations

from devices.virtual.simulator import simulate
from tests.clinical.recordings import GAP, Case, Expect, ramp

DROP_TO_88 = ramp(29.95, [92, 92, 92]) + ((30.0, 33.0, 88.0),)


def icu_numerics() -> list:
    """The desaturation scenario as ICU numerics exports look: one reading a minute per vital, about
    3 % of values written as 0 for "missing", and a few minutes with no row at all."""
    out, minute_seen = [], set()
    for item in simulate("desaturation", seed=4):
        if not hasattr(item, "vital") or item.vital not in ("spo2", "pr", "hr") or item.t % 60:
            continue
        minute = int(item.t // 60)
        if minute in (37, 38, 90):  # gaps: the export has no row for these minutes
            continue
        value = item.value
        if (minute * 7 + len(item.vital)) % 33 == 0:  # a deterministic ~3 % of zeros for "missing"
            value = 0.0
        if value is None:
            continue  # the export writes no row while the probe was off
        minute_seen.add(minute)
        out.append(type(item)(item.t, item.vital, value, item.unit, "icu-monitor"))
    return out


def icu_truth_below_90_s() -> float:
    """Seconds the same simulated patient (1 Hz, every reading) spent with SpO2 below 90 %."""
    return float(sum(1 for i in simulate("desaturation", seed=4)
                     if getattr(i, "vital", None) == "spo2" and i.value is not None and i.value < 90))


CASES: tuple[Case, ...] = (
    # ------------------------------------------------------------------ the pre-dose decision
    Case("predose-185-105-blocked",
         "Three pre-dose cuffs of 185/105 five minutes apart. Dosing is blocked (not clear, not only gated), and "
         "the reading is a HIGH SBP alarm at once.",
         "predose_bp_block >=180/100 on the latest cuff reading (Swiss-label; ED-WJEM); sbp_critical (USMed-35)",
         Expect(decisions=((1, "blocked"), (14, "blocked")), raised=(("sbp_critical", "high", 0, 0),),
                summary={"peak_sbp": 185}),
         minutes=15, cuff_every_min=None, bp={0: (185, 105), 5: (185, 105), 10: (185, 105)}),
    Case("predose-165-95-gated",
         "Pre-dose BP 165/95: above 140/90, below 180/100. Dosing is gated (re-measure; prescriber), not clear.",
         "predose_bp_gate >140/90 (JNJ-antiHTN)",
         Expect(decisions=((1, "gated"),), absent=("sbp_critical",)),
         minutes=10, base_bp=(165, 95)),
    Case("predose-150-105-blocked-on-diastolic",
         "Pre-dose BP 150/105: the diastolic alone is at or above 100. Dosing is blocked.",
         "predose_bp_block DBP >=100 (Swiss-label)",
         Expect(decisions=((1, "blocked"),), raised=(("dbp_high", "low", 0, 0),)),
         minutes=10, base_bp=(150, 105)),
    Case("predose-dbp-exactly-100-blocked",
         "Pre-dose BP 130/100: a diastolic of exactly 100 is 'at or above 100'. Blocked.",
         "predose_bp_block at the threshold (Swiss-label)",
         Expect(decisions=((1, "blocked"),)), minutes=6, base_bp=(130, 100)),
    Case("predose-dbp-99-gated",
         "Pre-dose BP 130/99: just below the block, above 90. Gated, not blocked.",
         "predose_bp_block just below; predose_bp_gate",
         Expect(decisions=((1, "gated"),)), minutes=6, base_bp=(130, 99)),
    Case("predose-sbp-exactly-180-blocked",
         "Pre-dose BP 180/80: a systolic of exactly 180 blocks dosing.",
         "predose_bp_block at the threshold (ED-WJEM)",
         Expect(decisions=((1, "blocked"),), raised=(("sbp_critical", "high", 0, 0),)), minutes=6, base_bp=(180, 80)),
    Case("predose-sbp-179-gated",
         "Pre-dose BP 179/80: just below the block. Gated; no HIGH alarm.",
         "predose_bp_block just below; sbp_critical just below",
         Expect(decisions=((1, "gated"),), absent=("sbp_critical",)), minutes=6, base_bp=(179, 80)),
    Case("predose-140-90-exactly-clear",
         "Pre-dose BP of exactly 140/90: the gate is 'above 140/90'. Clear to dose.",
         "predose_bp_gate at the threshold (JNJ-antiHTN: >140/90)",
         Expect(decisions=((1, "clear"),)), minutes=6, base_bp=(140, 90)),
    Case("predose-141-gated",
         "Pre-dose BP 141/80, a 45-year-old: just above 140. Gated.",
         "predose_bp_gate just above (JNJ-antiHTN)",
         Expect(decisions=((1, "gated"),)), minutes=6, base_bp=(141, 80)),
    Case("esketamine-latest-reading-decides",
         "Esketamine: pre-dose 128/80, 130/82, then 150/96. The latest reading decides: gated, though the median "
         "of the three (130/82) would have cleared.",
         "predose_bp_gate on the most recent cuff reading (JNJ-antiHTN; esketamine label)",
         Expect(decisions=((1, "clear"), (6, "clear"), (11, "gated"))),
         protocol="esketamine-intranasal", minutes=15, cuff_every_min=None,
         bp={0: (128, 80), 5: (130, 82), 10: (150, 96)}),
    Case("recheck-after-rest",
         "146/88 before dosing (gated). A re-measure 3 min later of 132/84 is too soon: still gated. "
         "A re-measure 8 min after the raised one, 134/82, lifts the gate.",
         "predose_bp_gate recheck_after_min = 5 (clinical-reference §4: recheck after 5-10 min rest)",
         Expect(decisions=((1, "gated"), (4, "gated"), (9, "clear"))),
         minutes=12, cuff_every_min=None, bp={0: (146, 88), 3: (132, 84), 8: (134, 82)}),
    Case("age-70-145-clear",
         "A 70-year-old with 145/85 before dosing: the gate at 65 or over is above 150. Clear.",
         "predose_bp_gate_65 >150/90 at >=65 (Janssen-CV)",
         Expect(decisions=((1, "clear"),)), age=70, minutes=6, base_bp=(145, 85)),
    Case("age-70-155-gated",
         "A 70-year-old with 155/85: above 150. Gated.",
         "predose_bp_gate_65 (Janssen-CV)",
         Expect(decisions=((1, "gated"),)), age=70, minutes=6, base_bp=(155, 85)),
    Case("age-unknown-145-gated",
         "Age not recorded, 145/85: kapmon cannot assume 65 or over, so the stricter gate applies. Gated.",
         "predose_bp_gate applies without an age; predose_bp_gate_65 needs one",
         Expect(decisions=((1, "gated"),)), age=None, minutes=6, base_bp=(145, 85)),
    Case("kap-im-age-68-152-gated",
         "IM ketamine, a 68-year-old with 152/84 before dosing. Gated.",
         "kap-im predose_bp_gate_65 (Janssen-CV)",
         Expect(decisions=((1, "gated"),)), protocol="kap-im", age=68, minutes=6, base_bp=(152, 84)),
    Case("sublingual-182-90-blocked",
         "Sublingual ketamine, 182/90 before dosing. Blocked.",
         "kap-sublingual predose_bp_block (Swiss-label; ED-WJEM)",
         Expect(decisions=((1, "blocked"),)), protocol="kap-sublingual", minutes=6, base_bp=(182, 90)),
    Case("no-predose-bp-gated",
         "No cuff reading yet: dosing waits for a pre-dose BP. The first reading, 118/76 at 5 min, clears it.",
         "route predose_bp_required (REMS-form: BP pre-dose; Sanacora: baseline BP)",
         Expect(decisions=((1, "gated"), (6, "clear"))),
         minutes=10, cuff_every_min=None, bp={5: (118, 76)}),
    Case("kap-im-no-predose-bp-gated",
         "IM: no BP taken before the planned dose. Gated.",
         "kap-im predose_bp_required (REMS-form; Sanacora)",
         Expect(decisions=((3, "gated"),)), protocol="kap-im", minutes=6, cuff_every_min=None),
    Case("predose-spo2-91-gated",
         "SpO2 91 % for the two minutes before dosing: not low enough to alarm (90), but below the 93 % gate. Gated.",
         "predose_spo2_gate <93 on the last 2 min (JNJ-resp)",
         Expect(decisions=((3, "gated"),), absent=("spo2_low",)), minutes=6, spo2=((0, 6, 91),)),
    Case("predose-spo2-93-clear",
         "SpO2 exactly 93 % before dosing: the gate is 'below 93'. Clear.",
         "predose_spo2_gate at the threshold (JNJ-resp)",
         Expect(decisions=((3, "clear"),)), minutes=6, spo2=((0, 6, 93),)),
    Case("esketamine-spo2-92-gated",
         "Esketamine, SpO2 92 % before the first device. Gated.",
         "esketamine predose_spo2_gate (JNJ-resp: trials excluded SpO2 <93%)",
         Expect(decisions=((3, "gated"),)), protocol="esketamine-intranasal", minutes=6, spo2=((0, 6, 92),)),
    # ------------------------------------------------------------------ screening
    Case("psychosis-blocked",
         "Screening: psychosis answered yes. Dosing is blocked from the start, whatever the vitals.",
         "screening psychosis -> block (ACEP; OKIC)",
         Expect(decisions=((1, "blocked"), (9, "blocked"))), screening={"psychosis": True}, minutes=10),
    Case("kap-im-aneurysm-blocked",
         "IM: aneurysmal vascular disease. Blocked.",
         "screening aneurysm_or_avm -> block (SPR-CI)",
         Expect(decisions=((1, "blocked"),)), protocol="kap-im", screening={"aneurysm_or_avm": True}, minutes=6),
    Case("sublingual-pregnancy-unanswered-gated",
         "Sublingual: the pregnancy question was not answered. Dosing waits for the answer (gated).",
         "an unanswered blocking question gates (SPR-CI; OKIC)",
         Expect(decisions=((1, "gated"),)), protocol="kap-sublingual", screening={"pregnancy": None}, minutes=6),
    Case("esketamine-severe-hepatic-blocked",
         "Esketamine: severe hepatic impairment. Blocked.",
         "screening hepatic_impairment severe -> block (PI-mirror-A)",
         Expect(decisions=((1, "blocked"),)), protocol="esketamine-intranasal",
         screening={"hepatic_impairment": "severe"}, minutes=6),
    Case("sublingual-hyperthyroidism-gated",
         "Sublingual: untreated hyperthyroidism. Gated until a physician clears it.",
         "screening hyperthyroidism -> gate (Swiss-label; ACEP)",
         Expect(decisions=((1, "gated"),)), protocol="kap-sublingual", screening={"hyperthyroidism": True}, minutes=6),
    Case("esketamine-cardiac-disease-tighter-hr",
         "Esketamine, coronary disease (gated for physician clearance). After the dose, HR 112 for 30 s: above the "
         "tightened 110, a MEDIUM alarm after its 10 s delay.",
         "screening cardiac_disease -> gate, tighten hr_high to 110 (ACEP; Ketalar-UK; Sanacora)",
         Expect(decisions=((1, "gated"),), raised=(("hr_high", "medium", 12 + 12 / 60, 0),)),
         protocol="esketamine-intranasal", screening={"cardiac_disease": True}, minutes=20, doses=((5, 56, None),),
         hr=ramp(12, [90, 110, 112]) + ((12.05, 12.5, 112),)),
    # ------------------------------------------------------------------ alarms after the dose
    Case("iv-rise-to-174-106",
         "IV 0.5 mg/kg over 40 min from 10 min; baseline 120/78. At 35 min 174/106: a MEDIUM rise alarm for each "
         "(+54 and +28), LOW highs, no HIGH. The next cuff at 40 min is the repeat the rise asks for.",
         "sbp_rise >=40, dbp_rise >=25 (USMed-35 Table 6); sbp_high, dbp_high, map_high (Mindray-TM70)",
         Expect(raised=(("sbp_rise", "medium", 35, 0), ("dbp_rise", "medium", 35, 0), ("sbp_high", "low", 35, 0),
                        ("dbp_high", "low", 35, 0), ("map_high", "low", 35, 0)),
                absent=("sbp_critical", "dbp_critical", "nibp_repeat"), summary={"peak_sbp": 174, "rise_sbp": 54}),
         minutes=45, doses=((10, 35, 40),), bp={35: (174, 106)}),
    Case("iv-critical-190-114-repeat-nibp",
         "IV dose at 10 min; at 40 min 190/114: HIGH SBP and DBP alarms and dosing blocked. The repeat NIBP the "
         "protocol asks for within 5 min is not taken (next cuff at 50 min): a MEDIUM reminder at 45 min. The "
         "normal reading at 50 min (10 min after the raised one) lifts the block and the holds.",
         "sbp_critical >=180, dbp_critical >=110 (USMed-35); repeat NIBP in 2-5 min (clinical-reference §7); holds",
         Expect(raised=(("sbp_critical", "high", 40, 0), ("dbp_critical", "high", 40, 0), ("nibp_repeat", "medium", 45, 0)),
                decisions=((39, "clear"), (41, "blocked"), (51, "clear"))),
         minutes=55, cuff_every_min=None, doses=((10, 35, 40),),
         bp={0: (120, 78), 5: (120, 78), 10: (120, 78), 40: (190, 114), 50: (120, 78)}),
    Case("known-hypertension-tighter-rise",
         "Known hypertension (cuff every 3 min as the plan asks), baseline 130/82. After the dose 162/95: +32 is "
         "above the tightened 30 (a MEDIUM rise); +13 diastolic is below the tightened 20.",
         "screening known_hypertension: sbp_rise 30, dbp_rise 20 (Yale-2342; China-741)",
         Expect(raised=(("sbp_rise", "medium", 24, 0),), absent=("dbp_rise", "sbp_critical")),
         screening={"known_hypertension": True}, age=50, minutes=30, cuff_every_min=3, base_bp=(130, 82),
         doses=((9, 35, 40),), bp={24: (162, 95)}),
    Case("stimulant-tighter-critical",
         "Takes a stimulant: SBP 172 after the dose is a HIGH alarm (critical tightened to 170).",
         "screening stimulant_or_maoi: sbp_critical 170 (MedicineNet)",
         Expect(raised=(("sbp_critical", "high", 20, 0),)), screening={"stimulant_or_maoi": True}, minutes=30,
         doses=((10, 35, 40),), bp={20: (172, 90)}),
    Case("sbp-90-then-89",
         "After the dose, SBP 90 (at the limit, no alarm) then 89 (below 90: MEDIUM), one episode.",
         "sbp_low <90 at and just below (Mindray-TM70; ED-WJEM)",
         Expect(raised=(("sbp_low", "medium", 20, 0),), episodes={"sbp_low": 1}),
         minutes=30, doses=((10, 35, 40),), bp={15: (90, 60), 20: (89, 58)}),
    Case("map-58",
         "After the dose 80/47 (MAP 58): MEDIUM MAP and SBP alarms, LOW DBP.",
         "map_low <60 (Mindray-TM70); sbp_low; dbp_low",
         Expect(raised=(("map_low", "medium", 15, 0), ("sbp_low", "medium", 15, 0), ("dbp_low", "low", 15, 0))),
         minutes=20, doses=((10, 35, 40),), bp={15: (80, 47)}),
    Case("map-31",
         "A cuff reading of 45/24 (MAP 31): every value is possible, and it must alarm (it raised nothing before).",
         "map_low (Mindray-TM70); plausible ranges (Mindray-N1)",
         Expect(raised=(("map_low", "medium", 15, 0), ("sbp_low", "medium", 15, 0)), absent=("map_check",)),
         minutes=20, doses=((10, 35, 40),), bp={15: (45, 24)}),
    Case("desaturation-88-for-3-min",
         "SpO2 falls to 88 % at 30 min for 3 min: MEDIUM after 15 s, escalated to HIGH after 2 min below 90; "
         "summary: lowest 88, 3 min below 90.",
         "spo2_low <90, 15 s delay, escalation at 120 s (Mindray-TM70; BIT-SpO2; Salloum)",
         Expect(raised=(("spo2_low", "medium", 30.25, 0), ("escalated:spo2_low", "high", 32, 0)),
                summary={"lowest_spo2": 88, "time_spo2_below_90_s": 180}),
         minutes=40, doses=((10, 35, 40),), spo2=DROP_TO_88),
    Case("spo2-84-high-latched",
         "SpO2 84 % at 20 min: HIGH at once; it stays latched when SpO2 recovers, until someone acknowledges it.",
         "spo2_critical <85, no delay, latching (LIFEPAK-15)",
         Expect(raised=(("spo2_critical", "high", 20 + 3 / 60, 0),), summary={"lowest_spo2": 84}),
         minutes=30, doses=((10, 35, 40),), spo2=ramp(20, [93, 89, 85]) + ((20.05, 20.5, 84),) + ramp(20.5, [88, 92, 96])),
    Case("repeat-desaturations-are-two-episodes",
         "Two separate dips to 84 % (20 and 30 min), nobody acknowledges in between: two episodes in the record "
         "and the summary, not one hidden by the latch.",
         "every new breach after a return to normal is a new episode (issue: repeat episodes hidden)",
         Expect(episodes={"spo2_critical": 2, "spo2_low": 2}),
         minutes=40, doses=((10, 35, 40),),
         spo2=(ramp(20, [93, 89, 85]) + ((20.05, 20.5, 84),) + ramp(20.5, [88, 92, 96])
               + ramp(30, [93, 89, 85]) + ((30.05, 30.5, 84),) + ramp(30.5, [88, 92, 96]))),
    Case("lowest-89.5-not-rounded",
         "SpO2 89.5 % for a minute: the summary says 89.5, not 90 (rounding must not cross the threshold); "
         "1 min below 90.",
         "summary minimums unrounded; time below 90 by sample and hold",
         Expect(raised=(("spo2_low", "medium", 20 + 16 / 60, 0),), summary={"lowest_spo2": 89.5, "time_spo2_below_90_s": 60}),
         minutes=30, doses=((10, 35, 40),), spo2=ramp(20, [93]) + ((20 + 1 / 60, 21 + 1 / 60, 89.5),) + ramp(21 + 1 / 60, [93])),
    Case("vasovagal-at-cannulation",
         "Vasovagal at 8 min: HR and pulse fall to 45 for 30 s, BP 85/50. MEDIUM HR, PR and SBP alarms.",
         "hr_low, pr_low <50 with 10 s delay (Mindray TD60); sbp_low (Mindray-TM70)",
         Expect(raised=(("hr_low", "medium", 8 + 12 / 60, 0), ("pr_low", "medium", 8 + 12 / 60, 0), ("sbp_low", "medium", 8, 0)),
                absent=("hr_critical_low",)),
         minutes=15, doses=((5, 35, 40),), bp={8: (85, 50)},
         hr=ramp(8, [60, 50]) + ((8 + 2 / 60, 8.5, 45),), pr=ramp(8, [60, 50]) + ((8 + 2 / 60, 8.5, 45),)),
    Case("hr-155-critical",
         "HR climbs to 155 /min for 20 s: HIGH after 5 s above 150 (and MEDIUM above 120 after 10 s).",
         "hr_critical_high >150, 5 s (ED-WJEM); hr_high >120, 10 s (Mindray TD60)",
         Expect(raised=(("hr_critical_high", "high", 15 + 8 / 60, 0), ("hr_high", "medium", 15 + 12 / 60, 0))),
         minutes=20, doses=((10, 35, 40),), hr=ramp(15, [95, 120, 135]) + ((15.05, 15.4, 155),)),
    Case("pr-38-critical",
         "Pulse 38 /min for 20 s: HIGH after 5 s below 40.",
         "pr_critical_low <40, 5 s ([U] 40)",
         Expect(raised=(("pr_critical_low", "high", 15 + 8 / 60, 0), ("pr_low", "medium", 15 + 11 / 60, 0))),
         minutes=20, doses=((10, 35, 40),), pr=ramp(15, [55, 45, 40]) + ((15.05, 15.4, 38),)),
    Case("cns-depressant-tighter-spo2",
         "Takes a benzodiazepine: SpO2 91 % after the dose is below the tightened 92 and alarms after 5 s.",
         "screening cns_depressant: spo2_low 92, delay 5 s (MedicineNet)",
         Expect(raised=(("spo2_low", "medium", 12 + 6 / 60, 0),)), screening={"cns_depressant": True}, minutes=20,
         doses=((10, 35, 40),), spo2=ramp(12, [93]) + ((12 + 1 / 60, 12.5, 91),)),
    Case("sleep-apnoea-shorter-delay",
         "Sleep apnoea: SpO2 88 % alarms after 10 s, not 15.",
         "screening sleep_apnoea: spo2_low delay 10 s (JNJ-resp)",
         Expect(raised=(("spo2_low", "medium", 12 + 12 / 60, 0),)), screening={"sleep_apnoea": True}, minutes=20,
         doses=((10, 35, 40),), spo2=ramp(12, [93, 90]) + ((12 + 2 / 60, 12.5, 88),)),
    Case("critical-spo2-holds-dosing",
         "SpO2 84 % for half a minute after the first dose: dosing is held while it lasts, and clear again once "
         "SpO2 has recovered (and the 2-min SpO2 is back above 93).",
         "spo2_critical holds_dosing; predose_spo2_gate",
         Expect(decisions=((19, "clear"), (20.3, "gated"), (25, "clear"))),
         minutes=26, doses=((10, 35, 40),), spo2=ramp(20, [93, 89, 85]) + ((20.05, 20.5, 84),) + ramp(20.5, [88, 92, 96])),
    # ------------------------------------------------------------------ technical alarms
    Case("one-zero-is-not-an-alarm",
         "One reading of SpO2 0 and pulse 0 in a 1 Hz stream (a monitor's 'missing'): kept as questionable, no "
         "physiological alarm, too short for 'check sensor'; the summary's lowest SpO2 stays 97.",
         "plausibility SpO2 30-100, PR 20-250 (Mindray-N22); check sensor after the technical delay",
         Expect(absent=("physiological", "spo2_check", "pr_check"), summary={"lowest_spo2": 97}),
         minutes=20, doses=((10, 35, 40),), spo2=((12, 12 + 1 / 60, 0),), pr=((12, 12 + 1 / 60, 0),)),
    Case("spo2-0-for-20-s-check-sensor",
         "SpO2 reads 0 for 20 s: a technical 'check sensor' alarm after 10 s, never a HIGH desaturation.",
         "plausibility (Mindray-N22); technical condition delay 10 s (Mindray-EPM10M)",
         Expect(raised=(("spo2_check", "low", 12 + 10 / 60, 0),), absent=("physiological", "spo2_stale"),
                summary={"lowest_spo2": 97}),
         minutes=20, doses=((10, 35, 40),), spo2=((12, 12 + 20 / 60, 0),)),
    Case("pr-277-check-sensor",
         "Pulse rate 277 for 20 s: not a possible pulse; 'check sensor', not a HIGH tachycardia.",
         "plausibility PR 20-250 (Mindray-N22)",
         Expect(raised=(("pr_check", "low", 12 + 10 / 60, 0),), absent=("physiological",)),
         minutes=20, doses=((10, 35, 40),), pr=((12, 12 + 20 / 60, 277),)),
    Case("one-second-jump-to-70",
         "SpO2 jumps from 97 to 70 for one reading and back: an artefact (27 % in a second), not a HIGH alarm.",
         "plausibility rate of change 5 %/s (design proposal)",
         Expect(absent=("spo2_critical", "spo2_low"), summary={"lowest_spo2": 97}),
         minutes=20, doses=((10, 35, 40),), spo2=((12, 12 + 1 / 60, 70),)),
    Case("sensor-off-12-s",
         "The probe is off for 12 s: a LOW technical alarm after 10 s, cleared when it is back.",
         "technical condition delay 10 s (Mindray-EPM10M)",
         Expect(raised=(("sensor_off:ox", "low", 12 + 10 / 60, 0),), absent=("physiological", "spo2_stale")),
         minutes=20, conditions=((12, "sensor_off", True, ("spo2", "pr")), (12.2, "sensor_off", False, ("spo2", "pr"))),
         spo2=((12, 12.2, None),), pr=((12, 12.2, None),)),
    Case("sensor-off-8-s",
         "The probe is off for 8 s: shorter than the delay, no alarm.",
         "technical condition delay 10 s (Mindray-EPM10M)",
         Expect(absent=("sensor_off:ox", "spo2_stale", "physiological")),
         minutes=20, conditions=((12, "sensor_off", True, ("spo2",)), (12 + 8 / 60, "sensor_off", False, ("spo2",))),
         spo2=((12, 12 + 8 / 60, None),)),
    Case("nibp-overdue",
         "IV dose at 10 min; the cuff stops after 20 min. NIBP overdue (cycle 5 min + 2 min grace) at 27 min.",
         "route nibp_interval_min 5 + nibp_overdue_grace_s 120 (design proposal; Emory-684, Yale-2342)",
         Expect(raised=(("nibp_overdue", "low", 27, 0),)),
         minutes=30, cuff_every_min=None, doses=((10, 35, 40),),
         bp={0: (120, 78), 5: (120, 78), 10: (120, 78), 15: (120, 78), 20: (120, 78)}),
    Case("bp-40-min-missed",
         "IV dose at 5 min; no cuff between 25 and 60 min. The ~40-min BP (window 35-55) is missed: a LOW reminder.",
         "checkpoint bp_40min (REMS-form; Yale-2342)",
         Expect(raised=(("bp_40min", "low", 55, 0),)),
         minutes=60, doses=((5, 35, 40),), bp={m: None for m in range(30, 60, 5)}),
    Case("kap-im-15-min-bp-missed",
         "IM dose at 5 min; cuffs at 0 and 5, then from 31 min. The ~15-min BP (window 10-30) is missed.",
         "kap-im checkpoint bp_15min (Tmax of IM; KetRes-IM)",
         Expect(raised=(("bp_15min", "low", 30, 0),)),
         protocol="kap-im", minutes=40, cuff_every_min=None, doses=((5, 70, None),),
         bp={0: (120, 78), 5: (120, 78), 31: (122, 80), 35: (121, 79)}),
    # ------------------------------------------------------------------ sparse, ICU-style data
    Case("sparse-one-a-minute-no-stale-flood",
         "A monitor that sends once a minute for 2 h: no 'stale' alarms (it used to raise one a minute). A 10-min "
         "outage still alarms, once per vital, 3 intervals after the last reading.",
         "stale after max(30 s, 3 sampling intervals) (design proposal after Philips-MP2)",
         Expect(raised=(("spo2_stale", "low", 62, 0), ("pr_stale", "low", 62, 0), ("hr_stale", "low", 62, 0)),
                episodes={"spo2_stale": 1, "pr_stale": 1, "hr_stale": 1}, max_technical=6),
         minutes=120, every_s=60, spo2=((60, 70, GAP),), pr=((60, 70, GAP),), hr=((60, 70, GAP),)),
    Case("sparse-desaturation-time-below-90",
         "Once-a-minute SpO2 of 88 % for 15 readings: 15 min below 90 (it used to say 0 s), MEDIUM after 15 s, "
         "HIGH after 2 min.",
         "time below 90 by sample and hold within the sampling interval; spo2_low escalation (Salloum)",
         Expect(raised=(("spo2_low", "medium", 30.25, 0), ("escalated:spo2_low", "high", 32, 0)),
                summary={"time_spo2_below_90_s": 900, "lowest_spo2": 88}, max_technical=0),
         minutes=60, every_s=60, doses=((10, 35, 40),), spo2=((30, 45, 88),)),
    Case("icu-numerics-from-the-simulator",
         "The desaturation scenario as an ICU numerics export (one reading a minute, zeros for missing, rows "
         "missing): no technical-alarm flood, and time below 90 % within 2 min of the 1 Hz truth.",
         "sampling-aware stale and check-sensor delays; sample-and-hold time below 90",
         Expect(summary={"time_spo2_below_90_s": (icu_truth_below_90_s(), 120)}, max_technical=4),
         minutes=130, every_s=60, cuff_every_min=5, doses=((10, 45, 40),), items=icu_numerics),
    # ------------------------------------------------------------------ whole sessions
    Case("typical-sublingual",
         "Sublingual 300 mg at 10 min, a quiet hour: no physiological alarm, clear to dose before it.",
         "kap-sublingual defaults",
         Expect(decisions=((9, "clear"),), absent=("physiological",)),
         protocol="kap-sublingual", minutes=60, doses=((10, 300, None),)),
    Case("moderate-hepatic-observation",
         "IM dose at 5 min, moderate hepatic impairment: minimum observation 60 + 60 min, so discharge criteria "
         "are met from 125 min, not 65.",
         "screening hepatic_impairment moderate: extend observation 60 min (PI-mirror-A)",
         Expect(summary={"discharge.t": 125 * 60, "discharge.how": "criteria"}),
         protocol="kap-im", screening={"hepatic_impairment": "moderate"}, minutes=140, doses=((5, 70, None),)),
    # ------------------------------------------------------------------ charted observations (sedation, dissociation, ...)
    Case("im-sedation-deepening-at-30-min",
         "IM 50 mg at 10 min. The nurse charts MOAA/S, breathing and dissociation every 15 min, nausea and anxiety "
         "every 30: MOAA/S 5 before the dose, 4 at 15 min after it, 2 (responds only to prodding) at 30 min, 4 at 45 "
         "and 5 at 60; dissociation 0, 1, 2, 1, 0. At 30 min after the dose: a MEDIUM and a HIGH sedation alarm, and "
         "dosing holds until the patient is rousable again (MOAA/S 4 at 45 min); no charting is overdue. The summary "
         "says the deepest MOAA/S was 2 at 30 min after the dose, sedated 45 min; the REMS answers are sedation yes, "
         "dissociation yes.",
         "moaas_low (<= 3, MEDIUM) and moaas_deep (<= 2, HIGH, holds dosing): USMed-35 (MOAA/S), JNJ-sedation (peak "
         "30-45 min); REMS-form (sedation, dissociation); levels and intervals are a design proposal",
         Expect(decisions=((9.5, "clear"), (39.9, "clear"), (40.1, "gated"), (55.1, "clear")),
                raised=(("moaas_low", "medium", 40, 0), ("moaas_deep", "high", 40, 0)),
                absent=("moaas_overdue", "breathing_overdue", "dissociation_overdue", "nausea_overdue", "anxiety_overdue",
                        "breathing_obstructed", "dissociation_severe"),
                episodes={"moaas_deep": 1},
                summary={"observations.moaas.worst": 2, "observations.moaas.worst_t": 40 * 60,
                         "observations.moaas.affected_s": 45 * 60, "observations.dissociation.worst": 2,
                         "observations.dissociation.affected_s": 45 * 60, "rems.sedated": True, "rems.dissociated": True}),
         protocol="kap-im", minutes=84, doses=((10, 50, None),),
         observations=tuple((m, scale, level) for m, levels in ((9, (5, 0, 0, 0, 0)), (25, (4, 0, 1, None, None)),
                                                                 (40, (2, 0, 2, 0, 0)), (55, (4, 0, 1, None, None)),
                                                                 (70, (5, 0, 0, 0, 0)))
                            for scale, level in zip(("moaas", "breathing", "dissociation", "nausea", "anxiety"), levels)
                            if level is not None)),
    Case("im-sedation-at-one-reading-a-minute",
         "The sedation case from a monitor that sends one reading a minute (an ICU-style export), with the same "
         "chartings, MOAA/S repeated at 30 min after the dose (charted twice at one round): the same sedation alarms "
         "and hold at 30 min after the dose, no stale-data alarm, one HIGH episode.",
         "moaas_deep with sparse vitals and a repeated charting; sampling-aware stale (design proposal)",
         Expect(decisions=((39.9, "clear"), (40.1, "gated"), (55.1, "clear")),
                raised=(("moaas_low", "medium", 40, 0), ("moaas_deep", "high", 40, 0)),
                absent=("spo2_stale", "pr_stale", "moaas_overdue"), episodes={"moaas_deep": 1},
                summary={"observations.moaas.worst": 2, "observations.moaas.count": 6, "rems.sedated": True}),
         protocol="kap-im", minutes=84, every_s=60, doses=((10, 50, None),),
         observations=((9, "moaas", 5), (9, "breathing", 0), (9, "dissociation", 0), (25, "moaas", 4),
                       (25, "breathing", 0), (25, "dissociation", 1), (40, "moaas", 2), (40, "moaas", 2),
                       (40, "breathing", 0), (40, "dissociation", 2), (55, "moaas", 4), (55, "breathing", 0),
                       (55, "dissociation", 1), (70, "moaas", 5), (70, "breathing", 0), (70, "dissociation", 0))),
    Case("im-charting-overdue",
         "IM 50 mg at 10 min. The nurse charts every scale once before the dose and then nothing: MOAA/S, breathing "
         "and dissociation are overdue 20 min after the dose (every 15 min, 5 min grace), a LOW reminder each; "
         "nausea and anxiety (every 30 min, 10 min grace) not yet by 45 min. Nothing charted after the dose: the REMS "
         "sedation and dissociation answers are not known (the form asks about the time after the medicine).",
         "[[observation]] every_min and grace_min (design proposal); the NIBP-overdue pattern",
         Expect(raised=(("moaas_overdue", "low", 30, 0), ("breathing_overdue", "low", 30, 0),
                        ("dissociation_overdue", "low", 30, 0)),
                absent=("nausea_overdue", "anxiety_overdue", "moaas_low"),
                summary={"observations.moaas.worst": 5, "rems.sedated": None, "rems.dissociated": None}),
         protocol="kap-im", minutes=45, doses=((10, 50, None),),
         observations=tuple((9, scale, level) for scale, level in
                            (("moaas", 5), ("breathing", 0), ("dissociation", 0), ("nausea", 0), ("anxiety", 0)))),
    Case("no-charting-no-reminders",
         "A device-only recording (nothing charted) with a dose at 5 min: no observation is overdue (like NIBP "
         "overdue, reminders start with the first charting), and the REMS sedation answer is not known.",
         "monitor.rules.observations: overdue starts with the session's first charting",
         Expect(absent=("moaas_overdue", "breathing_overdue", "dissociation_overdue"),
                summary={"observations": {}, "rems.sedated": None}),
         minutes=40, doses=((5, 35, 40),)),
)
