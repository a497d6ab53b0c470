"""Progress: one rate, an estimate that follows the first budget to end, lines instead of
redraws when not on a terminal."""

import logging
import time

from grafx.progress import Progress, format_seconds


def test_format_seconds():
    assert format_seconds(75.3) == "1:15" and format_seconds(3725) == "1:02:05"


def test_lines_when_not_a_terminal_show_one_rate_and_the_time_left(caplog):
    caplog.set_level(logging.INFO, logger="grafx.progress")
    progress = Progress("fit", 10, interval=0.0, terminal=False)
    for step in range(4):
        time.sleep(0.01)
        progress.update(step + 1, loss=0.5)
    progress.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "grafx.progress"]
    assert len(lines) == 4  # one per update at interval 0; close does not repeat the last
    assert lines[-1].startswith("fit: step 4/10 (40%), loss 0.5000, ")
    assert lines[-1].count("/s") == 1 and lines[-1].endswith(" left")


def test_close_writes_the_last_count_once(caplog):
    caplog.set_level(logging.INFO, logger="grafx.progress")
    progress = Progress("fit", 10, interval=3600.0, terminal=False)
    for step in range(3):
        progress.update(step + 1, loss=0.5)
    progress.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "grafx.progress"]
    assert len(lines) == 1 and lines[0].startswith("fit: step 3/10 (30%)")


def test_lines_are_spaced_by_the_interval(caplog):
    caplog.set_level(logging.INFO, logger="grafx.progress")
    with Progress("fit", 1000, interval=60.0, terminal=False) as progress:
        for step in range(1000):
            progress.update(step + 1)
    lines = [r for r in caplog.records if r.name == "grafx.progress"]
    assert len(lines) == 1  # the closing line only


def test_the_time_budget_shortens_the_expected_total():
    progress = Progress("fit", 12000, seconds=1.0, terminal=False, enabled=False)
    time.sleep(0.05)
    progress.update(5)
    # About 100 steps/s with under a second left: far fewer than 12000 steps.
    assert 5 <= progress.expected_total() < 200
    assert progress.eta() <= 1.0
