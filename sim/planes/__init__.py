"""Several mechanisms in one run ("planes"): one environment, one network, one fault plan.

Each plane is a one-mechanism `Simulation` built in the fleet's environment, sending through a
view of the fleet's network that keeps the plane's own message counts (sim/planes/network.py).
A node of the scenario hosts one protocol instance per plane it takes part in; a crash takes
all of them down, a partition splits every plane (sim/planes/kernel.py). Links turn one plane's
decisions into another plane's commands (sim/planes/links.py). `run_fleet` (sim/planes/run.py)
checks and summarises each plane on its own rows and joins the tables with a `plane` column.
"""

from __future__ import annotations

__all__ = ["PLANE_COLUMN"]

PLANE_COLUMN = "plane"
"""The column that names the plane of each row in a run with planes (always the first column)."""
