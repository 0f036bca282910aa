"""Seeds: every random stream derives from a SeedSequence of stable, named parts.

Python's `hash()` is salted per process, so the parts are hashed with SHA-256 instead; the same
(experiment, task, model, optimizer, repetition) gives the same stream on every machine.
"""

from __future__ import annotations

import hashlib

import numpy as np


def seed_sequence(*parts: object) -> np.random.SeedSequence:
    """A SeedSequence from any printable parts, e.g. ("optimizer", "sklearn:iris", "xgboost", 3)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    entropy = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.SeedSequence(entropy)


def derive_seed(*parts: object) -> int:
    """A 31-bit integer seed (what scikit-learn and xgboost accept) from named parts."""
    return int(seed_sequence(*parts).generate_state(1, dtype=np.uint32)[0] >> 1)


def derive_rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(seed_sequence(*parts))
