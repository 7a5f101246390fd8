"""Drawing a simulation's timeline: queue depth, breaker state and Plex calls over simulated time.

matplotlib is an optional extra (``pip install plexsync[plot]``); without it ``plot_timeline``
raises ``PlotUnavailable`` with that hint, and nothing else in plexsync needs it.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Final

from core import BreakerKind
from shell.simulate import SimulationResult

INSTALL_HINT: Final = "plotting needs matplotlib: pip install 'plexsync[plot]'"
_LEVEL: Final = {BreakerKind.CLOSED: 0, BreakerKind.HALF_OPEN: 1, BreakerKind.OPEN: 2}


class PlotUnavailable(Exception):  # noqa: N818 - reads as the condition it reports
    """matplotlib is not installed, or the plot cannot be written where it was asked for."""


def check_available() -> None:
    """Raise ``PlotUnavailable`` now, not after a long simulation, if plotting cannot work."""
    if importlib.util.find_spec("matplotlib") is None:
        raise PlotUnavailable(INSTALL_HINT)


def check_target(path: str) -> None:
    """Raise ``PlotUnavailable`` now, not after a long simulation, if a plot cannot be written
    to *path*: no matplotlib, a format it cannot draw, or a folder that is missing or read-only.
    """
    check_available()
    from matplotlib.backend_bases import FigureCanvasBase  # noqa: PLC0415 - optional

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    extension = os.path.splitext(path)[1].lstrip(".").lower()
    if extension not in formats:
        given = f"a .{extension} file" if extension else "a file without an extension"
        raise PlotUnavailable(
            f"{path}: cannot draw {given}; name it .png, .svg or .pdf (or any "
            f"of {', '.join(formats)})"
        )
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise PlotUnavailable(f"{path}: there is no folder {folder}")
    if not os.access(folder, os.W_OK):
        raise PlotUnavailable(f"{path}: the folder {folder} cannot be written to")


def plot_timeline(result: SimulationResult, path: str) -> None:
    """Write the timeline of *result* to *path* (PNG, or any format matplotlib knows)."""
    check_available()
    import matplotlib as mpl  # noqa: PLC0415 - optional: imported only when plotting

    mpl.use("Agg")  # no display: write files only
    import matplotlib.pyplot as plt  # noqa: PLC0415

    hours = 3600.0
    end = max(result.simulated_seconds, 60.0) / hours
    figure, (depth_axis, breaker_axis, calls_axis) = plt.subplots(
        3, 1, sharex=True, figsize=(10, 7), height_ratios=(3, 1, 2)
    )
    spec = result.spec
    title = f"plexsync simulate: {spec.jobs} jobs"
    if spec.outage_seconds:
        title += f", {spec.outage_seconds / hours:g} h outage"
    figure.suptitle(title)

    times = [s.at / hours for s in result.samples] + [end]
    depths = [s.queue_depth for s in result.samples]
    depth_axis.step(times, [*depths, depths[-1]], where="post", color="tab:blue")
    depth_axis.set_ylabel("jobs queued")

    levels = [_LEVEL[s.breaker] for s in result.samples]
    breaker_axis.step(times, [*levels, levels[-1]], where="post", color="tab:red")
    breaker_axis.set_yticks([0, 1, 2], ["closed", "half-open", "open"])
    breaker_axis.set_ylabel("breaker")

    bins = max(1, min(500, int(end * 60)))  # one bar per simulated minute, at most 500
    job_calls = [c.at / hours for c in result.calls if c.kind == "apply"]
    health_calls = [c.at / hours for c in result.calls if c.kind == "health"]
    calls_axis.hist(
        [job_calls, health_calls],
        bins=bins,
        range=(0, end),
        stacked=True,
        label=["job calls", "health checks and probes"],
        color=["tab:green", "tab:orange"],
    )
    calls_axis.set_yscale("symlog")
    calls_axis.set_ylabel("Plex calls")
    calls_axis.set_xlabel("simulated time (hours)")
    calls_axis.legend(loc="upper center")  # the right edge is where recovery's calls are

    if spec.outage_seconds:
        start = spec.outage_starts_after / hours
        stop = start + spec.outage_seconds / hours
        for axis in (depth_axis, breaker_axis, calls_axis):
            axis.axvspan(start, stop, color="grey", alpha=0.15, label=None)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
