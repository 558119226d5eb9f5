"""The hooks a stylecap plugin can implement: one per kind of component, plus CLI commands.

Each ``register_*`` hook receives a ``register`` callback; call it once per component class::

    from stylecap import hookimpl

    @hookimpl
    def register_style_backends(register):
        register(MyBackend)

``register`` records which plugin (and which installed distribution and version) added the
component, so users can see where every name comes from.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("stylecap")
hookimpl = pluggy.HookimplMarker("stylecap")


@hookspec
def register_style_backends(register):
    """Register style-transfer backends (subclasses of ``StyleBackend``)."""


@hookspec
def register_caption_backends(register):
    """Register caption backends (subclasses of ``CaptionBackend``)."""


@hookspec
def register_losses(register):
    """Register loss modules (``Component`` + ``torch.nn.Module``)."""


@hookspec
def register_encoders(register):
    """Register image encoders: frozen networks that map images to named feature maps."""


@hookspec
def register_generators(register):
    """Register generator networks (image or text) that trainers can build by name."""


@hookspec
def register_discriminators(register):
    """Register discriminator networks that trainers can build by name."""


@hookspec
def register_datasets(register):
    """Register datasets: readers of image folders, caption files and corpora."""


@hookspec
def register_trainers(register):
    """Register trainers (subclasses of ``Trainer``) that ``stylecap train KIND NAME`` runs."""


@hookspec
def register_condition_encoders(register):
    """Register condition encoders (``ConditionEncoder``): what caption models are told about a picture."""


@hookspec
def register_commands(cli):
    """Add commands to the ``stylecap`` command line; ``cli`` is the ``typer.Typer`` app."""
