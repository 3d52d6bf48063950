"""The page renders dashboard_pages.py timed: its page script, which AppTest runs as a script of its
own, appends each render's seconds here (the same process, so the same module)."""

RENDERS: list[float] = []
