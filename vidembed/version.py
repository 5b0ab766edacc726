"""The version of the package (the ground: anything may read it)."""

__version__ = "0.1.0"
