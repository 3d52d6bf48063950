"""The page renders dashboard_pages.py times: its page script, which AppTest runs as a script of its
own, renders through `timed`, which keeps each render's seconds here (the same process, so the same
module)."""

import time
from collections.abc import Callable

RENDERS: list[float] = []


def timed(render: Callable[[], None]) -> None:
    begin = time.perf_counter()
    render()
    RENDERS.append(time.perf_counter() - begin)
