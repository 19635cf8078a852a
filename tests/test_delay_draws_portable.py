"""Delay draws are the same bits on every processor: no numpy vector code whose rounding depends on the CPU.

numpy runs its own AVX-512 code for `np.exp` where the processor has it and the C library's exp
elsewhere; the two differ in the last bit for about one lognormal draw in twenty, so every
scenario with lognormal delays gave other journals on an AVX-512 machine (20 of the 47 shipped
scenarios). The draws now use the C library's exp alone.
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from sim.delays import draw_delays
from sim.scenario_parts import LognormalDelay

ROOT = Path(__file__).resolve().parents[1]

DRAW = """
import hashlib, numpy as np
from sim.delays import draw_delays
from sim.scenario_parts import LognormalDelay
spec = LognormalDelay(dist="lognormal", median="5ms", sigma=0.4)
print(hashlib.sha256(draw_delays(spec, np.random.default_rng(7), 200_000).tobytes()).hexdigest())
"""

WITHOUT_AVX512 = "X86_V4 AVX512_ICL AVX512_SPR AVX512F AVX512_SKX"
"""numpy's names for its AVX-512 code paths (2.x, then 1.x); naming one the machine lacks is harmless."""


def _digest(env_extra: dict[str, str]) -> str:
    env = {**os.environ, **env_extra}
    done = subprocess.run([sys.executable, "-c", DRAW], capture_output=True, text=True, cwd=ROOT, env=env, check=True)
    return done.stdout.strip()


def test_lognormal_draws_are_the_c_librarys_exp_of_the_normal_draws() -> None:
    """Each draw is median x math.exp(normal draw), bit for bit."""
    spec = LognormalDelay(dist="lognormal", median="5ms", sigma=0.4)
    drawn = draw_delays(spec, np.random.default_rng(3), 50_000)
    normals = np.random.default_rng(3).normal(0.0, 0.4, 50_000).tolist()
    assert drawn.tolist() == [5.0 * math.exp(x) for x in normals]


def test_lognormal_draws_do_not_depend_on_numpys_vector_code() -> None:
    """With numpy's AVX-512 paths turned off the draws are the same bytes (on a machine without them, trivially)."""
    assert _digest({}) == _digest({"NPY_DISABLE_CPU_FEATURES": WITHOUT_AVX512})
    assert hashlib.sha256(b"").hexdigest() != _digest({})  # a digest was printed
