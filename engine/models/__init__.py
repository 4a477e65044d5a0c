"""Pydantic models of the wire formats: telemetry events, rule files (contracts), outputs.

These models are the single source of the JSON Schema files under ``schemas/``.
"""
