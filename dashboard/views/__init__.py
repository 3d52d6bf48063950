"""Thin pages over dashboard.queries."""
