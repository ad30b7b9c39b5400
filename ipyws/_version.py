"""The ipyws version, written once: the package metadata, ``__version__`` and the User-Agent."""

__version__ = "0.1.0"
