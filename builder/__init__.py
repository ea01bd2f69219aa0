"""mcpbuild: serve a user-delegated MCP connector from one YAML file."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mcpbuild")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
