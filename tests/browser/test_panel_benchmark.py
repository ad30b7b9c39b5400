"""The panel's page benchmark runs end to end on one short window and prints its table.

Nothing here is timed: figures of a one-second window on a shared machine mean nothing. The
test only checks that the benchmark still opens both notebooks, measures in the page and
reports, so the command in docs/performance.md does not rot.
"""

from __future__ import annotations

from benchmarks import panel_page


def test_benchmark_measures_with_and_without_the_panel() -> None:
    """One rate, with and without the panel: frames, long tasks, widget traffic, feed rate."""
    results = panel_page.run(rates=[200], seconds=1.0)
    assert [(m.rate, m.panel) for m in results] == [(200, False), (200, True)]
    bare, shown = results
    assert bare.fps > 0 and shown.fps > 0
    assert bare.feed_msg_s > 0 and shown.feed_msg_s > 0
    assert bare.widget_kib_s == 0, "no panel, yet widget messages reached the page"
    assert shown.widget_kib_s > 0, "the panel's updates were not counted"
    report = panel_page.table(results)
    assert "| 200 msg/s" in report and "Targets at 200 msg/s" in report
