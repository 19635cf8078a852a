"""consim: a discrete-event simulator for consensus experiments."""

from sim.results import RunResult
from sim.runner import run
from sim.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict

__all__ = ["RunResult", "Scenario", "ScenarioError", "load_scenario", "run", "scenario_from_dict"]
__version__ = "0.1.0"
