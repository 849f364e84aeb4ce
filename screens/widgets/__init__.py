"""Reusable widgets of the workbench UI (each carries its own DEFAULT_CSS)."""
