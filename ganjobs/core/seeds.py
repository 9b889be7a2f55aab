"""Seeds: one range, and every random stream derived from a run seed by one helper.

A run has one seed, given by the user (``--seed``). Every random stream is derived from it
and a *name* (or, for the training and generation streams, integer keys), never drawn from
global state and never by position in a list, so adding a stream or a baseline never
changes the draws of the others, and the same seed gives the same output anywhere.

- :func:`stream`: a NumPy generator for one named purpose of an analysis (a baseline's
  paths, a metric's subsample, a plot's sample).
- :func:`derive_seed`: an integer seed for a training stream (weight initialisation,
  per-rank batch sampling), keyed by integers.
- :func:`block_seed`: the seed of one generation block (the unit of determinism of a set).
"""

from __future__ import annotations

import zlib

import numpy as np

from ganjobs.errors import GanjobsError

#: Every command accepts seeds in ``[0, SEED_RANGE)``.
SEED_RANGE = 2**63


def check_seed(value: object, flag: str = "--seed") -> int:
    """The seed as an int, or a :class:`GanjobsError` naming ``flag`` when out of range.

    Parameters
    ----------
    value : object
        What the caller got: an ``int`` in ``[0, 2**63)`` (``bool`` is refused).
    flag : str
        How the user passed it, for the message.

    Returns
    -------
    int
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not 0 <= int(value) < SEED_RANGE:
        raise GanjobsError(f"{flag} must be an integer in [0, 2**63), got {value!r}")
    return int(value)


def stream(seed: int, name: str) -> np.random.Generator:
    """The NumPy generator of the stream ``name`` of run ``seed``.

    ``default_rng([seed, crc32(name)])``: independent of every other name's stream.
    """
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def named_seed(seed: int, name: str) -> int:
    """A 63-bit integer seed for the stream ``name`` of run ``seed`` (from :func:`stream`)."""
    return int(stream(seed, name).integers(SEED_RANGE))


def derive_seed(run_seed: int, *keys: int) -> int:
    """A 63-bit seed for the stream ``keys`` of run ``run_seed`` (NumPy ``SeedSequence``)."""
    state = np.random.SeedSequence([int(run_seed), *map(int, keys)]).generate_state(2, np.uint64)
    return int(state[0] >> np.uint64(1))


def block_seed(seed: int, block: int) -> int:
    """Seed of one generation block, derived from the run seed and the block index."""
    return int(np.random.SeedSequence(entropy=seed, spawn_key=(block,)).generate_state(1)[0])
