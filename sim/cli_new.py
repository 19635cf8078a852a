"""`consim new`: write skeletons to start from (a mechanism, for now)."""

from pathlib import Path
from typing import Annotated

import typer

new_app = typer.Typer(
    name="new",
    help="Write a skeleton to start from.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@new_app.command("mechanism", short_help="Write a working mechanism skeleton: module, scenario and test.")
def new_mechanism_cmd(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The mechanism's name: lowercase letters, digits, _.", show_default=False)],
    folder: Annotated[Path, typer.Option("--dir", metavar="DIR", help="Where to create the NAME/ folder.")] = Path(),
) -> None:
    """Write DIR/NAME/ with NAME.py (Config and Protocol), NAME.yaml (a scenario that runs it) and test_NAME.py."""
    from sim.cli import guard
    from sim.scaffold import new_mechanism

    with guard():
        written = new_mechanism(name, folder)
    for path in written:
        typer.echo(f"wrote {path}")
    scenario = written[1]
    typer.echo(f"next: consim run {scenario}   (then edit {written[0].name}; pytest {written[2]} keeps it honest)")
