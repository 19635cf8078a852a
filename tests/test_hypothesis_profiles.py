"""Hypothesis profiles: the derandomized CI profile by default, and an `explore` profile chosen by an environment variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
PROBE = "import hypothesis, tests.conftest as c; print(c.HYPOTHESIS_PROFILE, hypothesis.settings.default.derandomize, c.examples(40))"


def _probe(profile: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "CONSIM_HYPOTHESIS"}
    if profile is not None:
        env["CONSIM_HYPOTHESIS"] = profile
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.split()


def test_profiles_differ_in_randomness() -> None:
    """`ci` replays fixed examples; `explore` draws new ones each run."""
    assert settings.get_profile("ci").derandomize is True
    assert settings.get_profile("explore").derandomize is False


def test_ci_is_the_default_and_the_environment_selects_explore() -> None:
    """Without CONSIM_HYPOTHESIS the CI profile is loaded; with `explore` the examples are fresh and ten times as many."""
    assert _probe(None) == ["ci", "True", "40"]
    assert _probe("explore") == ["explore", "False", "400"]
