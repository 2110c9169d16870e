"""PNG plots of a comparison (matplotlib, the ``sim`` extra, drawn with the Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiplane.core.errors import MissingDependencyError
from aiplane.sim.buckets import bucket_means, utilisation
from aiplane.sim.metrics import Series
from aiplane.sim.runner import Comparison


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            "the HTML report's plots need matplotlib: pip install 'aiplane[sim]'"
        ) from None
    matplotlib.use("Agg")  # no display: write files only
    import matplotlib.pyplot as plt

    return plt


def require_matplotlib() -> None:
    """Raises :class:`MissingDependencyError` now rather than after a long replay."""
    _pyplot()


def _utilisation(series: Series) -> tuple[list[float], list[float]]:
    return utilisation(series.times, series.busy_gpus, series.up_gpus)


def write_plots(comparison: Comparison, folder: Path) -> list[tuple[str, str]]:
    """Writes the PNGs; returns (file name, caption) for each."""
    plt = _pyplot()
    written: list[tuple[str, str]] = []
    labels = comparison.labels

    def save(fig: Any, name: str, caption: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        written.append((name, caption))

    fig, ax = plt.subplots(figsize=(8, 3.6))
    for name, result in comparison.results.items():
        t, u = _utilisation(result.series)
        ax.plot([x / 86400 for x in t], u, label=labels[name], linewidth=1)
    ax.set(xlabel="days", ylabel="GPU utilisation", ylim=(0, 1.02))
    ax.legend(fontsize="small")
    save(fig, "utilisation.png", "GPU utilisation over time (busy / available GPUs)")

    fig, ax = plt.subplots(figsize=(8, 3.6))
    for name, result in comparison.results.items():
        s = result.series
        t, q = bucket_means(s.times, [float(p) for p in s.pending])
        ax.plot([x / 86400 for x in t], q, label=labels[name], linewidth=1)
    ax.set(xlabel="days", ylabel="jobs waiting")
    ax.legend(fontsize="small")
    save(fig, "queue.png", "Queue length over time (pending jobs)")

    fig, ax = plt.subplots(figsize=(8, 3.6))
    for name, result in comparison.results.items():
        jcts = sorted(r.jct_s for r in result.records if r.jct_s is not None)
        if not jcts:
            continue
        n = len(jcts)
        step = max(1, n // 2000)
        xs = [max(j, 1.0) / 3600 for j in jcts[::step]]
        ys = [(i * step + 1) / n for i in range(len(xs))]
        ax.plot(xs, ys, label=labels[name], linewidth=1)
    ax.set(xscale="log", xlabel="job completion time (hours, log)", ylabel="fraction of jobs")
    ax.legend(fontsize="small")
    save(fig, "jct_cdf.png", "JCT distribution per policy (CDF)")

    fig, ax = plt.subplots(figsize=(8, 3.6))
    names = list(comparison.results)
    data = [
        [max(r.jct_s, 1.0) / 3600 for r in comparison.results[n].records if r.jct_s is not None]
        for n in names
    ]
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), [labels[n] for n in names])
    ax.set(yscale="log", ylabel="JCT (hours, log)")
    save(fig, "jct_box.png", "JCT per policy (box: quartiles, whiskers: 1.5 IQR)")
    return written
