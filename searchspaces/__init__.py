"""Bundled search spaces (YAML files), installed as the package ``autodl.searchspaces``."""
