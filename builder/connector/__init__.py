"""The connector spec: models, loading with positions, semantic checks, JSON Schema."""

from builder.connector.load import load_connector, load_connector_text
from builder.connector.models import Connector, Param, Provider, Request, Response, Tool
from builder.connector.params import input_schema, param_schema

__all__ = [
    "Connector",
    "Param",
    "Provider",
    "Request",
    "Response",
    "Tool",
    "input_schema",
    "load_connector",
    "load_connector_text",
    "param_schema",
]
