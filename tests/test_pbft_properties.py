"""Property tests for PBFT: any n (not only 3f + 1), up to f liars, lies in view changes; always safe.

Hypothesis draws the cluster size, the declared f, which replicas lie and how (in every message,
or only in view-change and new-view messages), and a cut or a crash that forces view changes.
Every checker of the mechanism (agreement, integrity, validity, no honest equivocation) judges
the run. Derandomized like tests/test_properties.py, so CI sees the same examples every time.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import run, scenario_from_dict
from sim.protocols.quorum import byzantine_f

PBFT_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
LIES = ["equivocate", "corrupt", "double_vote", "censor", "silent"]


@st.composite
def pbft_plans(draw: Any) -> dict[str, Any]:
    """A PBFT scenario: n in 4..8, f up to its bound, up to f liars, and a cut or crash that forces a view change."""
    n = draw(st.integers(4, 8))
    f = draw(st.integers(0, byzantine_f(n)))
    nodes = [f"n{i}" for i in range(n)]
    liars = draw(st.lists(st.sampled_from(nodes), min_size=0, max_size=f, unique=True))
    faults: list[dict[str, Any]] = []
    for liar in sorted(liars):
        entry: dict[str, Any] = {"byzantine": [liar], "behaviour": draw(st.sampled_from(LIES))}
        if entry["behaviour"] in ("equivocate", "corrupt") and draw(st.booleans()):
            entry["messages"] = ["view_change", "new_view"]  # lie only where the view change listens
        faults.append(entry)
    at = draw(st.integers(100, 800))
    if draw(st.booleans()):
        faults.append({"at": f"{at}ms", "cut": {"from": "n0", "to": [x for x in nodes if x != "n0"]}, "for": "400ms"})
    else:
        faults.append({"at": f"{at}ms", "crash": draw(st.sampled_from(nodes[:2])), "for": "300ms"})
    return {
        "name": "property-pbft-any-n",
        "mechanism": "pbft",
        "nodes": n,
        "seed": draw(st.integers(0, 2**16)),
        "duration": "1500ms",
        "protocol": {"f": f, "view_change_timeout": "100ms", "checkpoint_interval": draw(st.sampled_from([2, 8, 64]))},
        "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "10ms"}, "loss": draw(st.sampled_from([0.0, 0.05]))},
        "faults": faults,
        "workload": {"kind": "poisson", "rate": "60/s", "until": "1200ms", "clients": 2, "timeout": "80ms"},
    }


@PBFT_SETTINGS
@given(plan=pbft_plans())
def test_pbft_is_safe_for_any_n_with_f_liars_lying_in_view_changes(plan: dict[str, Any]) -> None:
    """PBFT with any n >= 3f + 1 and up to f replicas lying (view-change and new-view messages included): no violation."""
    result = run(scenario_from_dict(plan))
    assert result.violations.empty, result.violations.to_string()
