"""Simulation testing: draw fault schedules within a mechanism's bound, judge, save and shrink failures.

`explore(base_scenario, schedules=N, seed=S)` draws N schedules from the explore seed (crashes,
leader crashes and isolation, a flapping leader, partitions, one-way cuts, lossy/duplicating/slow links, byzantine
nodes where the mechanism tolerates them), runs each against the oracles (every safety checker,
no exception, progress after the last fault heals), writes one row per schedule to
`runs.parquet`, and saves each failing schedule as a plain scenario with a shrunk `minimal.yaml`.
"""

from sim.explore.core import FAILING, ExploreResult, explore, judge, kind_table, outcome_table, plan
from sim.explore.draw import FaultBound, draw_schedule, faulty_at_once, schedule_rng, within
from sim.explore.shrink import ddmin, shrink

__all__ = [
    "FAILING",
    "ExploreResult",
    "FaultBound",
    "ddmin",
    "draw_schedule",
    "explore",
    "faulty_at_once",
    "judge",
    "kind_table",
    "outcome_table",
    "plan",
    "schedule_rng",
    "shrink",
    "within",
]
