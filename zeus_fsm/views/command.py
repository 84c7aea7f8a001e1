"""`zeus-fsm diagrams`: write diagrams/ from the machine, or check it is current."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("diagrams")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("diagrams"),
              show_default=True, help="Directory of the generated files.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 naming each file that is missing or stale.")
def diagrams_command(out: Path, check: bool) -> None:
    """Generate the state and sequence diagrams (SVG and Mermaid) from the machine's tables."""
    from zeus_fsm.views.build import DotFailed, find_dot, generate, stale_files, write

    dot = find_dot()
    if dot is None:
        click.echo("zeus-fsm diagrams: Graphviz `dot` not found (apt-get install graphviz); "
                   "SVGs skipped, Mermaid files only", err=True)
    try:
        generated = generate(dot)
    except DotFailed as error:
        click.echo(f"zeus-fsm diagrams: {error}", err=True)
        sys.exit(2)
    if check:
        stale = stale_files(out, generated)
        for name in stale:
            click.echo(f"stale or missing: {out / name}", err=True)
        if stale:
            if all(name.endswith(".svg") for name in stale):
                # the tables agree (the Mermaid is current): the layout engine differs
                click.echo("only SVGs differ: their layout depends on the Graphviz version "
                           "and fonts (Debian's graphviz with fonts-liberation2 made the "
                           "committed ones)", err=True)
            click.echo("run `zeus-fsm diagrams` and commit the result", err=True)
            sys.exit(1)
        skipped = " (SVGs not checked: no dot)" if generated.svg_skipped else ""
        click.echo(f"{out}/ is up to date: {len(generated.files)} files{skipped}")
        return
    changed = write(out, generated)
    for name in changed:
        click.echo(f"wrote {out / name}")
    click.echo(f"{out}/: {len(changed)} of {len(generated.files)} files changed")
