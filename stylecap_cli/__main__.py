"""``python -m stylecap_cli ...`` (and ``torchrun ... -m stylecap_cli run ...``): the ``stylecap`` command."""

from .main import main

main()
