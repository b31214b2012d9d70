"""Plausibility: which readings are kept in the record but marked questionable.

A trusted reading becomes questionable when its value is outside the protocol's plausible range
for the vital, when it changed faster than the protocol allows since the previous value from the
same source (only between readings a few seconds apart), or when a cuff measurement's diastolic is
not below its systolic. Questionable readings keep their number (shown with "?"), are never
alarmed on, summarised or used for a baseline, and raise "check sensor" if they go on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from devices.reading import Item, Reading, questionable
from devices.vocabulary import OK
from monitor.rules.protocol import Plausible


class PlausibilityCheck:
    """Marks implausible readings questionable, remembering the previous value per vital and source."""

    def __init__(self, rules: Mapping[str, Plausible]) -> None:
        self.rules = rules
        self._previous: dict[tuple[str, str], tuple[float, float]] = {}

    def admit(self, items: Iterable[Item]) -> list[Item]:
        """``items`` in the same order, implausible readings marked questionable."""
        out = [self._one(i) if isinstance(i, Reading) else i for i in items]
        return _cuff_order(out)

    def _one(self, r: Reading) -> Reading:
        rule = self.rules.get(r.vital)
        if rule is None or r.value is None:
            return r
        key = (r.vital, r.source)
        previous = self._previous.get(key)
        self._previous[key] = (r.t, r.value)
        if r.status != OK:
            return r
        before, dt = (previous[1], r.t - previous[0]) if previous else (None, 0.0)
        return questionable(r) if rule.problem(r.value, before, dt) else r


def _cuff_order(items: list[Item]) -> list[Item]:
    """Mark a whole cuff measurement (systolic, diastolic and mean) questionable when its diastolic is not
    below its systolic: such a measurement is an artefact, its mean included."""
    cuff: dict[tuple[float, str], dict[str, int]] = {}
    for i, item in enumerate(items):
        if isinstance(item, Reading) and item.value is not None and item.vital in ("sbp", "dbp", "map"):
            cuff.setdefault((item.t, item.source), {})[item.vital] = i
    for parts in cuff.values():
        if "sbp" in parts and "dbp" in parts:
            sbp, dbp = items[parts["sbp"]], items[parts["dbp"]]
            assert isinstance(sbp, Reading) and isinstance(dbp, Reading) and sbp.value is not None and dbp.value is not None
            if dbp.value >= sbp.value:
                for i in parts.values():
                    items[i] = questionable(items[i])  # type: ignore[arg-type]
    return items
