"""An entry-point target for plugin-loading tests: registers nothing."""
