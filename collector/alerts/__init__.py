"""Alerts: rules over the store, their lifecycle, an outbox, and delivery by email and Teams."""
