"""The clinic's rules: the protocol model and loader, the patient's plan, the baseline, plausibility, the alarm
engine, the dosing decision and discharge readiness, and the one path every recording takes through them."""
