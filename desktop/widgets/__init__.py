"""Widgets that pages share or embed."""
