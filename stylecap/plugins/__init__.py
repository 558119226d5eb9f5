"""Built-in plugins. Each module is registered through the ``stylecap`` entry-point group in
pyproject.toml, exactly as a third-party package's plugin is."""
