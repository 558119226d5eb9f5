"""An example stylecap plugin: Reinhard colour transfer, a colour-statistics loss, a command.

stylecap finds this module through the ``stylecap`` entry point in pyproject.toml and calls
the ``@stylecap.hookimpl`` functions below; each hands its classes to ``register``.

The command module imports typer, so it is imported inside ``register_commands``: programs that
only use stylecap's library (``stylecap.list_components()``, ``Pipeline``) never load the CLI.
"""

import stylecap

from .losses import ColorMoments
from .reinhard import Reinhard

__all__ = ["ColorMoments", "Reinhard"]


@stylecap.hookimpl
def register_style_backends(register):
    register(Reinhard)


@stylecap.hookimpl
def register_losses(register):
    register(ColorMoments)


@stylecap.hookimpl
def register_commands(cli):
    from .commands import color_stats

    cli.command("color-stats")(color_stats)
