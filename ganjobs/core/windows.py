"""Windows of a return series: all overlapping ones, or non-overlapping chunks.

One definition for every caller: the evaluation's metrics, historical simulation in the
stress test, and the training data's reference curves all cut series the same way.
"""

from __future__ import annotations

import numpy as np


def sliding_windows(x: np.ndarray, length: int) -> np.ndarray:
    """All overlapping windows of a series.

    Parameters
    ----------
    x : ndarray, shape (T,) or (T, k)
    length : int
        Window length in steps.

    Returns
    -------
    ndarray, shape (T − length + 1, length, k)
        A read-only view (no copy); window ``i`` holds ``x[i:i + length]``. Empty (0 windows)
        when the series is shorter than ``length``.
    """
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.shape[0] < length:
        return np.empty((0, length, x.shape[1]), dtype=x.dtype)
    return np.lib.stride_tricks.sliding_window_view(x, length, axis=0).transpose(0, 2, 1)


def chunks(x: np.ndarray, length: int) -> np.ndarray:
    """Non-overlapping chunks ``(m, length)`` of a 1-d series; the whole series if shorter.

    The tail that does not fill a chunk is dropped.
    """
    x = np.asarray(x, dtype=np.float64)
    m = len(x) // length
    if m == 0:
        return x[None, :]
    return x[: m * length].reshape(m, length)
