"""What a session may say about its patient and dosing: the routes of administration and the
plausible ranges of weight and age. The recording sidecar and the session record both check
against these, so a value one accepts the other never refuses."""

from __future__ import annotations

ROUTES = ("iv", "im", "sublingual", "oral", "intranasal")

# Plausible body weight in kg. Design proposal: from a newborn's weight to well above the heaviest
# adults a clinic chair and cuff serve; a number outside it is a typing error (1 for 100, grams).
WEIGHT_KG = (2.0, 400.0)
# Age in whole years. Design proposal: 0 up to the oldest recorded human age (122), rounded up.
AGE_YEARS = (0, 130)


def weight_problem(weight_kg: object) -> str | None:
    """Why ``weight_kg`` is not a plausible body weight, or ``None`` when it is."""
    low, high = WEIGHT_KG
    if isinstance(weight_kg, bool) or not isinstance(weight_kg, (int, float)) or not low <= weight_kg <= high:
        return f"weight {weight_kg!r} kg is not plausible (a number {low:g}-{high:g} kg)"
    return None
