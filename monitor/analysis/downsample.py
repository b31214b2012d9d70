"""Min/max-preserving downsampling of long traces, with gaps kept as gaps (review page and report).

A trace is two numpy arrays, ``t`` (seconds, increasing) and ``v`` (NaN = no value). ``with_gaps``
puts a NaN point wherever the signal stopped (a no-value reading already is one; a silence longer
than the gap threshold gets one), so a line never bridges a sensor-off period. ``minmax`` keeps, for
each of ``n_out / 2`` equal-count bins, the lowest and the highest sample (and a NaN if the bin holds
a gap): peaks, troughs and gaps survive any zoom level. ``overview`` does the same a block of samples at a
time (a waveform's stored blocks, ``monitor.session.blocks``) when a window holds more blocks than there
are bins: each block's lowest and highest value and whether it holds a gap.
"""

from __future__ import annotations

import numpy as np

GAP_FACTOR = 5.0
MIN_GAP_S = 0.05  # design proposal: a silence shorter than this is never a gap (a 20 Hz signal's sampling)


def gap_threshold(t: np.ndarray, factor: float = GAP_FACTOR) -> float:
    """A silence longer than ``factor`` times the typical sampling interval is a gap."""
    if len(t) < 2:
        return float("inf")
    return factor * float(np.median(np.diff(t)))


def rate_gap(rates: np.ndarray, factor: float = GAP_FACTOR) -> float:
    """The gap threshold of a waveform sampled at ``rates`` (Hz, one a block; 0 for a lone sample)."""
    sampled = rates[rates > 0]
    return max(factor / float(np.median(sampled)), MIN_GAP_S) if len(sampled) else float("inf")


def with_gaps(t: np.ndarray, v: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """``t, v`` with a NaN inserted in the middle of every silence longer than ``threshold``."""
    if len(t) < 2:
        return t, v
    where = np.flatnonzero(np.diff(t) > threshold)
    if not len(where):
        return t, v
    mid = (t[where] + t[where + 1]) / 2
    return np.insert(t, where + 1, mid), np.insert(v, where + 1, np.nan)


def minmax(t: np.ndarray, v: np.ndarray, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``n_out`` points keeping each bin's min, max and gaps; short traces unchanged."""
    n = len(t)
    if n_out < 4:
        raise ValueError(f"n_out must be at least 4, not {n_out}")
    if n <= n_out:
        return t, v
    n_bins = n_out // 2
    size = -(-n // n_bins)
    padded = np.full(n_bins * size, np.nan)
    padded[:n] = v
    grid = padded.reshape(n_bins, size)
    real = (np.arange(n_bins * size) < n).reshape(n_bins, size)
    gaps = np.isnan(grid) & real
    lo = np.where(np.isnan(grid), np.inf, grid).argmin(axis=1)
    hi = np.where(np.isnan(grid), -np.inf, grid).argmax(axis=1)
    base = np.arange(n_bins) * size
    keep = [base + lo, base + hi]
    gap_rows = np.flatnonzero(gaps.any(axis=1))
    keep.append(base[gap_rows] + gaps[gap_rows].argmax(axis=1))
    idx = np.unique(np.concatenate(keep))
    idx = idx[idx < n]
    return t[idx], v[idx]


def window(t: np.ndarray, v: np.ndarray, x0: float, x1: float) -> tuple[np.ndarray, np.ndarray]:
    """The samples between ``x0`` and ``x1`` plus one on each side (so lines run to the edges)."""
    i0 = max(int(np.searchsorted(t, x0, "left")) - 1, 0)
    i1 = min(int(np.searchsorted(t, x1, "right")) + 1, len(t))
    return t[i0:i1], v[i0:i1]


def overview(outline: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Blocks of samples, each an ``outline`` row ``(t0, rate_hz, n, lo, hi, no_value)`` (lo, hi NaN when none
    of its samples has a value), as at most four points a block: its lowest value at its first time, a NaN if
    it holds a no-value sample, its highest value at its last time, and a NaN after it when the next block
    starts more than ``threshold`` after it ends. Every extreme and gap of the samples is kept; a point's time
    moves by less than a block."""
    order = np.argsort(outline[:, 0], kind="stable")
    first, rate, n, lo, hi, no_value = outline[order].T
    last = first + np.divide(n - 1, rate, out=np.zeros(len(n)), where=rate > 0)
    silence = np.append(first[1:] - np.maximum.accumulate(last)[:-1] > threshold, False)
    after = np.append(first[1:], last[-1:])
    points_t = np.stack([first, (first + last) / 2, last, (last + after) / 2], axis=1).ravel()
    points_v = np.stack([lo, np.full(len(lo), np.nan), hi, np.full(len(lo), np.nan)], axis=1).ravel()
    every = np.ones(len(lo), bool)
    keep = np.stack([every, no_value > 0, every, silence], axis=1).ravel()
    return points_t[keep], points_v[keep]
