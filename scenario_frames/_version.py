"""The package version, kept in one place for the User-Agent, manifests and packaging."""

__version__ = "0.1.0"
