"""Figures for MD logs, potential energy scans, vibrational spectra and attention maps, written as PNG files.

matplotlib is imported only when a figure is drawn, and figures are rendered
with the Agg canvas directly (no pyplot), so plotting never changes the
backend of an interactive Python shell or notebook.
"""

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from .scan import ScanResult

if TYPE_CHECKING:
    from ase import Atoms

    from .attention_maps import AttentionMaps

__all__ = ["md_plot", "scan_plot", "grid_plot", "gap_plot", "spectrum_plot", "attention_plot", "axis_label"]

_LABELS = {"bond": "r({}) (Å)", "angle": "angle {} (°)", "dihedral": "dihedral {} (°)"}


def axis_label(coordinate: str, symbols: Sequence[str] | None = None) -> str:
    """Readable axis label for a scan coordinate label: "bond_0_1_A" -> "r(0–1) (Å)", or with the
    structure's chemical symbols "r(C0–O1) (Å)"."""
    if coordinate == "com_distance_A":
        return "centre-of-mass distance (Å)"
    kind, *rest = coordinate.split("_")
    indices = rest[:-1]
    if kind in _LABELS and indices and all(x.isdigit() for x in indices):
        named = [f"{symbols[int(i)]}{i}" if symbols is not None and int(i) < len(symbols) else i for i in indices]
        return _LABELS[kind].format("–".join(named))
    return coordinate


def scan_symbols(result: ScanResult) -> list[str] | None:
    """Chemical symbols of the scanned structure, from the result's stored structures (None without them)."""
    if result.structures is None:
        return None
    first = next((atoms for atoms in result.structures.flat if atoms is not None), None)
    return None if first is None else first.get_chemical_symbols()


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


def _relative(energies: np.ndarray) -> tuple[np.ndarray, float, float, str]:
    """Energies (eV) relative to their lowest finite value, in meV when they span less than 1 eV.

    Returns:
        (relative energies in the chosen unit, the lowest energy in eV, the unit per eV, the unit's name).
    """
    finite = energies[np.isfinite(energies)]
    zero = float(finite.min()) if finite.size else 0.0
    span = float(finite.max()) - zero if finite.size else 0.0
    factor, unit = (1e3, "meV") if span < 1.0 else (1.0, "eV")
    return (energies - zero) * factor, zero, factor, unit


def md_plot(log_csv: str | os.PathLike, png: str | os.PathLike, title: str | None = None,
            target_temperature_K: float | None = None) -> None:
    """Energies, temperature and (for periodic cells) density against time from an ``attnff.md`` log.

    Args:
        log_csv: ``md_log.csv`` written by ``attnff.md.run`` (columns ``attnff.md.LOG_COLUMNS``).
        png: output image path.
        title: figure title, e.g. the potential, ensemble and temperature.
        target_temperature_K: thermostat target in K, drawn as a dashed line on the temperature panel.

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
    axes[1].plot(time_ps, log["temperature_K"], color="tab:red", lw=1.2, label="instantaneous")
    if target_temperature_K is not None:
        axes[1].axhline(target_temperature_K, color="black", lw=1.0, ls="--",
                        label=f"target {target_temperature_K:g} K")
        axes[1].legend(loc="best", fontsize="small")
    axes[1].set_ylabel("temperature (K)")
    if show_density:
        axes[2].plot(time_ps, log["density_g_cm3"], color="tab:green", lw=1.2)
        axes[2].set_ylabel("density (g/cm³)")
    axes[-1].set_xlabel("time (ps)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.ticklabel_format(axis="y", useOffset=False)
    if title:
        figure.suptitle(title, fontsize="medium")
    figure.savefig(png, dpi=120)


def rdf_plot(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], png: str | os.PathLike,
             title: str | None = None) -> None:
    """Radial distribution functions, one line per label: {label: (r in Angstrom, g(r))}."""
    figure, axes = _figure(6.5, 4.0)
    ax = axes[0, 0]
    for label, (r, g) in curves.items():
        ax.plot(r, g, label=label, lw=1.4)
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("r (Å)")
    ax.set_ylabel("g(r)")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    figure.savefig(png, dpi=120)


def scan_plot(result: ScanResult, png: str | os.PathLike, title: str | None = None,
              reference: Mapping[tuple[int, int], tuple[Sequence[float], Sequence[float]]] | None = None) -> None:
    """Energy curve of a 1-D scan, one line per state; non-converged relaxations circled in red.

    Energies are drawn relative to the lowest energy of all states (meV below a
    1 eV span, else eV), so that state gaps stay visible.

    Args:
        result: a 1-D ScanResult (bond, angle, dihedral or dissociation).
        png: output image path.
        title: figure title; default "rigid scan" or "relaxed scan".
        reference: reference points (e.g. DFT) per state (charge, multiplicity) of ``result.states``:
            (coordinate values (M,) in Angstrom or degrees, absolute energies (M,) in eV). They are drawn
            as open markers in their state's colour, on the same energy zero as the scan, so that an
            offset between potential and reference stays visible.

    Raises:
        ValueError: a 2-D scan, or a reference state that is not among ``result.states``.
    """
    if len(result.values) != 1:
        raise ValueError(f"scan_plot draws 1-D scans; this one has {len(result.values)} coordinates: use grid_plot")
    unknown = set(reference or {}) - set(result.states)
    if unknown:
        raise ValueError(f"reference states {sorted(unknown)} are not among the scan's states {result.states}")
    x = result.values[0]
    relative, zero, factor, unit = _relative(result.energies)
    figure, axes = _figure(6.0, 4.2)
    ax = axes[0, 0]
    for s, state in enumerate(result.states):
        ax.plot(x, relative[s], marker="o", ms=4, lw=1.5, color=f"C{s}", label=_state_label(state))
        if reference and state in reference:
            ref_x, ref_energy = (np.asarray(v, dtype=float) for v in reference[state])
            ax.plot(ref_x, (ref_energy - zero) * factor, ls="none", marker="D", ms=6, mfc="none", mew=1.3,
                    color=f"C{s}", label=f"{_state_label(state)}, reference")
    bad = ~result.converged  # (S, P)
    if bad.any():
        ax.plot(np.broadcast_to(x, bad.shape)[bad], relative[bad], ls="none", marker="o", ms=11, mfc="none",
                mec="red", mew=1.5, label="relaxation not converged")
    ax.set_xlabel(axis_label(result.coordinates[0], scan_symbols(result)))
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
    def lookup(label: str):  # an exact label ("bond_0_1_A"), else its kind ("bond", "angle", "dihedral")
        return training_domain.get(label, training_domain.get(label.split("_")[0]))

    named = [label for label in result.coordinates if lookup(label) is not None]
    if not named:
        warnings.warn(f"training_domain names none of this grid's coordinates {result.coordinates} "
                      f"(it has {sorted(training_domain)}); no domain drawn", UserWarning, stacklevel=3)
        return None
    bounds = []
    for label, values in zip(result.coordinates, result.values):
        low, high = lookup(label) or (-np.inf, np.inf)
        margin = 0.05 * (values.max() - values.min() or 1.0)  # unbounded sides run just past the grid
        bounds.append((max(float(low), values.min() - margin), min(float(high), values.max() + margin)))
    if any(high <= low for low, high in bounds):
        warnings.warn("the whole grid lies outside the training domain", UserWarning, stacklevel=3)
        return []
    return bounds


def _domain_rectangle(ax, bounds: list | None, color: str) -> None:
    """Draw ``_domain_bounds``' training domain as a dashed rectangle, or say that the grid lies outside it."""
    from matplotlib.patches import Rectangle

    if bounds:
        (x0, x1), (y0, y1) = bounds
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=color, lw=2, ls="--",
                               label="training domain"))
    elif bounds == []:
        ax.text(0.5, 0.5, "outside the\ntraining domain", transform=ax.transAxes, ha="center", va="center",
                color=color, fontsize="large", fontweight="bold")


def grid_plot(result: ScanResult, png: str | os.PathLike,
              training_domain: Mapping[str, Sequence[float]] | None = None, title: str | None = None) -> None:
    """Heat map of a 2-D scan, one panel per state, on a shared colour scale.

    Args:
        result: a 2-D ScanResult from ``attnff.scan.grid2d``.
        png: output image path.
        training_domain: the region the potential was trained on, drawn as a dashed rectangle. It maps a
            coordinate label, as in ``result.coordinates``, to ``[min, max]`` in that coordinate's unit
            (Angstrom or degrees), e.g. ``{"bond_0_1_A": [1.3, 1.7], "angle_0_1_2_deg": [95, 125]}``, or a
            coordinate kind to a range for every coordinate of that kind, e.g. ``{"bond": [0.95, 1.2],
            "angle": [90, 140]}``. A coordinate it does not name is taken as unbounded. Model cards keep this mapping
            under ``card["domain"]``, so ``training_domain=calc.metadata["card"].get("domain")`` draws it.
        title: figure title; default "rigid scan" or "relaxed scan".

    Energies are relative to the lowest energy of all states (meV below a 1 eV
    span, else eV); non-converged relaxations are marked with a red cross.
    """
    if len(result.values) != 2:
        raise ValueError(f"grid_plot draws 2-D scans; this one has {len(result.values)} coordinate(s)")
    x, y = result.values
    relative, zero, _, unit = _relative(result.energies)
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
        _domain_rectangle(ax, bounds, "white")
        ax.set_title(_state_label(state), fontsize="medium")
        ax.set_xlabel(axis_label(result.coordinates[0], scan_symbols(result)))
        if s == 0:
            ax.set_ylabel(axis_label(result.coordinates[1], scan_symbols(result)))
    handles = {h.get_label(): h for ax in axes[0] for h in ax.get_legend_handles_labels()[0]}
    if handles:
        figure.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=2,
                      fontsize="small", facecolor="lightgray")
    figure.colorbar(mesh, ax=axes[0, :].tolist(), label=f"E − E_min ({unit})")
    figure.suptitle(f"{title or ('relaxed 2-D scan' if result.relaxed else 'rigid 2-D scan')}   "
                    f"(E_min = {zero:.4f} eV)", fontsize="medium")
    figure.savefig(png, dpi=120)


def gap_plot(result: ScanResult, png: str | os.PathLike, upper: tuple[int, int], lower: tuple[int, int],
             training_domain: Mapping[str, Sequence[float]] | None = None, title: str | None = None) -> None:
    """Heat map of the energy difference E(upper) - E(lower) between two states of a 2-D scan, eV.

    A diverging colour scale centred on 0 and a solid contour where the difference changes sign show
    where the two states cross; e.g. ``upper=(0, 1), lower=(0, 3)`` gives the singlet-triplet gap
    E_S - E_T, positive where the triplet lies lower.

    Args:
        result: a 2-D ScanResult from ``attnff.scan.grid2d`` holding both states.
        png: output image path.
        upper: (charge, multiplicity) of the state whose energy is taken first.
        lower: (charge, multiplicity) of the state subtracted.
        training_domain: as for ``grid_plot``, drawn as a dashed rectangle.
        title: figure title; default "E(upper) − E(lower)".

    Raises:
        ValueError: not a 2-D scan, or a state that is not among ``result.states``.
    """
    if len(result.values) != 2:
        raise ValueError(f"gap_plot draws 2-D scans; this one has {len(result.values)} coordinate(s)")
    missing = [state for state in (upper, lower) if state not in result.states]
    if missing:
        raise ValueError(f"states {missing} are not among the scan's states {result.states}")
    x, y = result.values
    gap = result.energies[result.states.index(upper)] - result.energies[result.states.index(lower)]  # (P_1, P_2)
    finite = gap[np.isfinite(gap)]
    limit = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0
    figure, axes = _figure(5.6, 4.4)
    ax = axes[0, 0]
    mesh = ax.pcolormesh(x, y, gap.T, shading="nearest", cmap="RdBu_r", vmin=-limit, vmax=limit)
    if finite.size and finite.min() < 0 < finite.max():
        ax.contour(x, y, gap.T, levels=[0.0], colors="black", linewidths=1.5)
    _domain_rectangle(ax, _domain_bounds(result, training_domain) if training_domain else None, "black")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper right", fontsize="small")
    ax.set_xlabel(axis_label(result.coordinates[0], scan_symbols(result)))
    ax.set_ylabel(axis_label(result.coordinates[1], scan_symbols(result)))
    figure.colorbar(mesh, ax=ax, label=f"E{upper} − E{lower} (eV), states as (charge, 2S+1)")
    ax.set_title(title or f"E{upper} − E{lower}; solid line: crossing", fontsize="medium")
    figure.savefig(png, dpi=120)


def spectrum_plot(frequencies_cm: Sequence[complex] | np.ndarray, png: str | os.PathLike,
                  title: str | None = None) -> None:
    """Stick spectrum of harmonic vibrational frequencies, one stick of unit height per mode.

    Args:
        frequencies_cm: (M,) frequencies in cm^-1 as ``ase.vibrations.Vibrations.get_frequencies`` gives them:
            real, or complex with imaginary modes as purely imaginary numbers. Imaginary modes are drawn
            in red at negative wavenumber.
        png: output image path.
        title: figure title; default "harmonic frequencies".
    """
    frequencies = np.asarray(frequencies_cm, dtype=complex)
    imaginary = np.abs(frequencies.imag) > np.abs(frequencies.real)
    wavenumber = np.where(imaginary, -np.abs(frequencies.imag), frequencies.real)
    figure, axes = _figure(7.0, 3.2)
    ax = axes[0, 0]
    ax.vlines(wavenumber[~imaginary], 0.0, 1.0, color="tab:blue", lw=1.5, label="real")
    if imaginary.any():
        ax.vlines(wavenumber[imaginary], 0.0, 1.0, color="red", lw=1.5, label="imaginary (drawn < 0)")
        ax.legend(loc="upper center", fontsize="small")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xlim(min(0.0, float(wavenumber.min(initial=0.0))) - 100.0, float(wavenumber.max(initial=0.0)) + 200.0)
    ax.set_ylim(0.0, 1.15)
    ax.set_yticks([])
    ax.set_xlabel("wavenumber (cm⁻¹)")
    ax.set_title(title or f"harmonic frequencies ({len(wavenumber)} modes)", fontsize="medium")
    figure.savefig(png, dpi=120)


def _bonded_pairs(atoms: "Atoms") -> tuple[np.ndarray, np.ndarray]:
    """Bonded atom pairs (i, j), both orders: ASE's default connectivity, covalent radii
    (``ase.neighborlist.natural_cutoffs``) plus a 0.3 Angstrom skin, as ``attnff.scan`` uses."""
    from ase.neighborlist import build_neighbor_list

    bonds = build_neighbor_list(atoms, self_interaction=False, bothways=True)
    return np.nonzero(bonds.get_connectivity_matrix(sparse=False))


def _layer_indices(labels: list[str], layers: Sequence[int | str] | None) -> list[int]:
    """Indices of the chosen layers, given by index or label; None: all."""
    if layers is None:
        return list(range(len(labels)))
    chosen = [labels.index(layer) if isinstance(layer, str) and layer in labels else layer for layer in layers]
    if not chosen or not all(isinstance(k, (int, np.integer)) and 0 <= k < len(labels) for k in chosen):
        raise ValueError(f"layers must be indices into or names from {labels}, got {list(layers)}")
    return [int(k) for k in chosen]


def attention_plot(maps: "AttentionMaps", atoms: "Atoms", png: str | os.PathLike,
                   layers: Sequence[int | str] | None = None, bonds: bool = True, title: str | None = None) -> None:
    """One heat map per attention layer: row i is the receiver, column j the sender, ticks the elements.

    Entries are the head-averaged weights (``maps.matrices``). Softmax attention (JAT, CMRET: rows sum
    to 1) shares one colour scale from 0 to the largest weight; GeomAtt's alpha, a signed, unnormalised
    coefficient whose size differs by orders of magnitude between correlation orders, gets a diverging
    scale centred on 0 per panel, and the figure says so. Covalently bonded pairs (ASE's covalent-radius
    connectivity) are outlined, so that the pairs a layer singles out can be compared with the bonds.

    Args:
        maps: ``attnff.attention_maps.attention_maps`` of ``atoms``.
        atoms: the structure; its symbols (with 0-based indices) label the axes.
        png: output image path.
        layers: indices into ``maps.labels`` or labels to draw; default all layers.
        bonds: outline covalently bonded pairs.
        title: figure title; default the model name and what the axes mean.

    Raises:
        ValueError: ``maps`` and ``atoms`` differ in atom count, or an unknown layer.
    """
    n = len(atoms)
    if maps.per_head.shape[-1] != n:
        raise ValueError(f"the maps are for {maps.per_head.shape[-1]} atoms, the structure has {n}")
    chosen = _layer_indices(maps.labels, layers)
    matrices = maps.matrices[chosen]  # (L', N, N)
    ncols = math.ceil(math.sqrt(len(chosen)))
    nrows = math.ceil(len(chosen) / ncols)
    figure, axes = _figure(3.4 * ncols + 1.2, 3.2 * nrows + 0.8, ncols=ncols, nrows=nrows)
    ticks = [f"{symbol}{k}" for k, symbol in enumerate(atoms.get_chemical_symbols())]
    step = max(1, math.ceil(n / 30))  # at most ~30 tick labels per axis
    pairs = _bonded_pairs(atoms) if bonds else None
    for ax, k, matrix in zip(axes.flat, chosen, matrices):
        if maps.softmax:  # one scale for all layers
            image = ax.imshow(matrix, interpolation="nearest", cmap="magma", vmin=0.0, vmax=float(matrices.max()))
        else:  # orders differ by orders of magnitude: one symmetric scale per layer
            limit = float(np.abs(matrix).max()) or 1.0
            image = ax.imshow(matrix, interpolation="nearest", cmap="RdBu_r", vmin=-limit, vmax=limit)
            figure.colorbar(image, ax=ax, label="α_ij")
        if pairs is not None and pairs[0].size:
            ax.plot(pairs[1], pairs[0], ls="none", marker="s", ms=min(20.0, 150.0 / n), mfc="none",
                    mec="deepskyblue" if maps.softmax else "black", mew=1.2, label="covalent bond")
        ax.set_xticks(range(0, n, step), ticks[::step], rotation=90, fontsize="x-small")
        ax.set_yticks(range(0, n, step), ticks[::step], fontsize="x-small")
        ax.set_title(maps.labels[k], fontsize="medium")
    for ax in axes.flat[len(chosen):]:
        ax.set_axis_off()
    for ax in axes[:, 0]:
        ax.set_ylabel("receiver i")
    for ax in axes[-1, :]:
        ax.set_xlabel("sender j")
    handles = {h.get_label(): h for h in axes.flat[0].get_legend_handles_labels()[0]}
    if handles:
        figure.legend(list(handles.values()), list(handles), loc="outside lower center", fontsize="small")
    if maps.softmax:
        figure.colorbar(image, ax=axes.ravel().tolist(), label="α_ij, mean over heads (rows sum to 1)")
    note = "" if maps.softmax else "\nGeomAtt α_ij is a signed, unnormalised coefficient, not a softmax weight"
    figure.suptitle((title or f"{maps.model} attention maps (row i receives from column j; images of j summed)")
                    + note, fontsize="medium")
    figure.savefig(png, dpi=120)
