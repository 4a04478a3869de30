"""Figures for MD logs and potential energy scans, written as PNG files.

matplotlib is imported only when a figure is drawn, and figures are rendered
with the Agg canvas directly (no pyplot), so plotting never changes the
backend of an interactive session.
"""

import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from .scan import ScanResult

__all__ = ["md_plot", "scan_plot", "grid_plot", "axis_label"]

_LABELS = {"bond": "r({}) (Å)", "angle": "angle {} (°)", "dihedral": "dihedral {} (°)"}


def axis_label(coordinate: str) -> str:
    """Readable axis label for a scan coordinate label, e.g. "bond_0_1_A" -> "r(0–1) (Å)"."""
    if coordinate == "com_distance_A":
        return "centre-of-mass distance (Å)"
    kind, *rest = coordinate.split("_")
    indices = rest[:-1]
    if kind in _LABELS and indices and all(x.isdigit() for x in indices):
        return _LABELS[kind].format("–".join(indices))
    return coordinate


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1, **kwargs):
    """A matplotlib Figure on an Agg canvas and its (nrows, ncols) array of axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(nrows, ncols, squeeze=False, **kwargs)
    return figure, axes


def _state_label(state: tuple[int, int]) -> str:
    charge, multiplicity = state
    return f"charge {charge:+d}, 2S+1 = {multiplicity}" if charge else f"neutral, 2S+1 = {multiplicity}"


def _relative(energies: np.ndarray) -> tuple[np.ndarray, float, str]:
    """Energies (eV) relative to their lowest finite value, in meV when they span less than 1 eV.

    Returns:
        (relative energies in the chosen unit, the lowest energy in eV, the unit's name).
    """
    finite = energies[np.isfinite(energies)]
    zero = float(finite.min()) if finite.size else 0.0
    span = float(finite.max()) - zero if finite.size else 0.0
    factor, unit = (1e3, "meV") if span < 1.0 else (1.0, "eV")
    return (energies - zero) * factor, zero, unit


def md_plot(log_csv: str | os.PathLike, png: str | os.PathLike) -> None:
    """Energies, temperature and (for periodic cells) density against time from an ``attnff.md`` log.

    Args:
        log_csv: ``md_log.csv`` written by ``attnff.md.run`` (columns ``attnff.md.LOG_COLUMNS``).
        png: output image path.

    Energies are drawn as changes from their first logged value, in eV: a
    flat total energy is a conserved NVE run.
    """
    log = np.genfromtxt(log_csv, delimiter=",", names=True, ndmin=1)
    time_ps = log["time_ps"]
    show_density = bool(np.isfinite(log["density_g_cm3"]).any())
    figure, axes = _figure(7.0, 6.5 if show_density else 5.0, nrows=3 if show_density else 2, sharex=True)
    axes = axes[:, 0]
    for key, name, color in (("epot_eV", "potential", "tab:blue"), ("ekin_eV", "kinetic", "tab:orange"),
                             ("etot_eV", "total", "black")):
        axes[0].plot(time_ps, log[key] - log[key][0], label=name, color=color, lw=1.2)
    axes[0].set_ylabel("E − E(t=0) (eV)")
    axes[0].legend(loc="best", fontsize="small", ncols=3)
    axes[1].plot(time_ps, log["temperature_K"], color="tab:red", lw=1.2)
    axes[1].set_ylabel("temperature (K)")
    if show_density:
        axes[2].plot(time_ps, log["density_g_cm3"], color="tab:green", lw=1.2)
        axes[2].set_ylabel("density (g/cm³)")
    axes[-1].set_xlabel("time (ps)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.ticklabel_format(axis="y", useOffset=False)
    figure.savefig(png, dpi=120)


def scan_plot(result: ScanResult, png: str | os.PathLike, title: str | None = None) -> None:
    """Energy curve of a 1-D scan, one line per state; non-converged relaxations circled in red.

    Energies are drawn relative to the lowest energy of all states (meV below a
    1 eV span, else eV), so that state gaps stay visible.

    Args:
        result: a 1-D ScanResult (bond, angle, dihedral or dissociation).
        png: output image path.
        title: figure title; default "rigid scan" or "relaxed scan".
    """
    if len(result.values) != 1:
        raise ValueError(f"scan_plot draws 1-D scans; this one has {len(result.values)} coordinates: use grid_plot")
    x = result.values[0]
    relative, zero, unit = _relative(result.energies)
    figure, axes = _figure(6.0, 4.2)
    ax = axes[0, 0]
    for s, state in enumerate(result.states):
        ax.plot(x, relative[s], marker="o", ms=4, lw=1.5, color=f"C{s}", label=_state_label(state))
    bad = ~result.converged  # (S, P)
    if bad.any():
        ax.plot(np.broadcast_to(x, bad.shape)[bad], relative[bad], ls="none", marker="o", ms=11, mfc="none",
                mec="red", mew=1.5, label="relaxation not converged")
    ax.set_xlabel(axis_label(result.coordinates[0]))
    ax.set_ylabel(f"E − E_min ({unit})")
    ax.set_title(f"{title or ('relaxed scan' if result.relaxed else 'rigid scan')}   (E_min = {zero:.4f} eV)",
                 fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    figure.savefig(png, dpi=120)


def _domain_bounds(result: ScanResult, training_domain: Mapping[str, Sequence[float]]) -> list | None:
    """[(low, high), (low, high)] of the domain rectangle on the grid's two axes.

    None if the domain names neither coordinate, [] if the grid lies entirely outside it (both warn).
    """
    named = [label for label in result.coordinates if label in training_domain]
    if not named:
        warnings.warn(f"training_domain names none of this grid's coordinates {result.coordinates} "
                      f"(it has {sorted(training_domain)}); no domain drawn", UserWarning, stacklevel=3)
        return None
    bounds = []
    for label, values in zip(result.coordinates, result.values):
        low, high = training_domain.get(label, (-np.inf, np.inf))
        margin = 0.05 * (values.max() - values.min() or 1.0)  # unbounded sides run just past the grid
        bounds.append((max(float(low), values.min() - margin), min(float(high), values.max() + margin)))
    if any(high <= low for low, high in bounds):
        warnings.warn("the whole grid lies outside the training domain", UserWarning, stacklevel=3)
        return []
    return bounds


def grid_plot(result: ScanResult, png: str | os.PathLike,
              training_domain: Mapping[str, Sequence[float]] | None = None, title: str | None = None) -> None:
    """Heat map of a 2-D scan, one panel per state, on a shared colour scale.

    Args:
        result: a 2-D ScanResult from ``attnff.scan.grid2d``.
        png: output image path.
        training_domain: the region the potential was trained on, drawn as a dashed rectangle. It maps a
            coordinate label, as in ``result.coordinates``, to ``[min, max]`` in that coordinate's unit
            (Angstrom or degrees), e.g. ``{"bond_0_1_A": [1.3, 1.7], "angle_0_1_2_deg": [95, 125]}``. A
            coordinate it does not name is taken as unbounded. Model cards keep this mapping under
            ``card["domain"]``, so ``training_domain=calc.metadata["card"].get("domain")`` draws it.
        title: figure title; default "rigid scan" or "relaxed scan".

    Energies are relative to the lowest energy of all states (meV below a 1 eV
    span, else eV); non-converged relaxations are marked with a red cross.
    """
    from matplotlib.patches import Rectangle

    if len(result.values) != 2:
        raise ValueError(f"grid_plot draws 2-D scans; this one has {len(result.values)} coordinate(s)")
    x, y = result.values
    relative, zero, unit = _relative(result.energies)
    finite = relative[np.isfinite(relative)]
    vmax = float(finite.max()) if finite.size else 1.0
    bounds = _domain_bounds(result, training_domain) if training_domain else None
    n = len(result.states)
    figure, axes = _figure(4.3 * n + 1.0, 4.0, ncols=n, sharey=True)
    for s, state in enumerate(result.states):
        ax = axes[0, s]
        mesh = ax.pcolormesh(x, y, relative[s].T, shading="nearest", cmap="viridis", vmin=0.0, vmax=vmax)
        bad = ~result.converged[s]
        if bad.any():
            ix, iy = np.nonzero(bad)
            ax.plot(x[ix], y[iy], ls="none", marker="x", ms=8, mew=2, color="red",
                    label="relaxation not converged")
        if bounds:
            (x0, x1), (y0, y1) = bounds
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec="white", lw=2, ls="--",
                                   label="training domain"))
        elif bounds == []:
            ax.text(0.5, 0.5, "outside the\ntraining domain", transform=ax.transAxes, ha="center",
                    va="center", color="white", fontsize="large", fontweight="bold")
        ax.set_title(_state_label(state), fontsize="medium")
        ax.set_xlabel(axis_label(result.coordinates[0]))
        if s == 0:
            ax.set_ylabel(axis_label(result.coordinates[1]))
    handles = {h.get_label(): h for ax in axes[0] for h in ax.get_legend_handles_labels()[0]}
    if handles:
        figure.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=2,
                      fontsize="small", facecolor="lightgray")
    figure.colorbar(mesh, ax=axes[0, :].tolist(), label=f"E − E_min ({unit})")
    figure.suptitle(f"{title or ('relaxed 2-D scan' if result.relaxed else 'rigid 2-D scan')}   "
                    f"(E_min = {zero:.4f} eV)", fontsize="medium")
    figure.savefig(png, dpi=120)
