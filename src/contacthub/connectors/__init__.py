"""Connectors: one module per system, all behind ``connectors.base.Connector``."""
