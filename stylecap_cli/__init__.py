"""The ``stylecap`` command line (Typer + Rich), kept apart so the library never imports them."""
