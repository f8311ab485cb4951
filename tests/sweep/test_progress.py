"""The progress bar: cells done, the rate of this run, and the time left."""

from __future__ import annotations

import io

from exitd.sweep.progress import Progress


def test_the_time_left_comes_from_this_runs_rate_not_from_resumed_cells() -> None:
    now = [100.0]
    err = io.StringIO()
    progress = Progress(err, total=10, already=4, shown=True, clock=lambda: now[0])
    now[0] = 102.0
    progress.advance()  # 1 cell in 2 s; 5 left: 10 s
    assert progress.line(now[0]).endswith("5/10 cells  0.5/s  0:00:10 left")
    assert "\rsweep [###############---------------] 5/10 cells" in err.getvalue()


def test_off_a_terminal_nothing_is_drawn_unless_asked() -> None:
    err = io.StringIO()
    progress = Progress(err, total=2, already=0, shown=False)
    progress.advance()
    progress.close()
    assert err.getvalue() == ""
