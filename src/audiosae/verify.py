"""Open every stored artefact of a study and name the damaged ones (``snakemake verify``).

Snakemake reruns what is missing or older than its inputs, but not a file that is present and damaged: an
activation store cut short by a full disk, a checkpoint overwritten by hand, an empty table. Each check opens the
file the way the study reads it and returns the problems found (an empty list when the file is sound).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def check_activations(path: str | Path) -> list[str]:
    """An activation store: readable HDF5, marked complete, every layer as long as the clips' frames say."""
    from .models.extract import Activations

    try:
        with Activations(path) as acts:
            offsets = acts.offsets
            n_frames = int(offsets[:, 1].max()) if len(offsets) else 0
            problems = []
            if len(acts.clip_ids) != len(offsets):
                problems.append(f"{len(acts.clip_ids)} clip ids but {len(offsets)} clip offsets")
            dims = dict(zip((int(x) for x in acts.h5.attrs.get("layers", [])), acts.h5.attrs.get("layer_dims", [])))
            for layer in acts.layers:
                frames = acts.frames(layer)
                if frames.shape[0] != n_frames:
                    problems.append(f"layer {layer} holds {frames.shape[0]} frames, the clips' offsets {n_frames}")
                if layer in dims and frames.shape[1] != int(dims[layer]):
                    problems.append(f"layer {layer} is {frames.shape[1]} wide, the file's layer_dims say {int(dims[layer])}")
                if frames.shape[0]:  # read the last rows: a file cut short fails here
                    tail = frames[max(0, frames.shape[0] - 64):]
                    if not np.all(np.isfinite(tail)):
                        problems.append(f"layer {layer} has non-finite values")
            return problems
    except (OSError, ValueError, KeyError, RuntimeError) as exc:  # h5py reports a damaged file as one of these
        return [str(exc).replace(f"{path}: ", "")]


def check_sae(folder: str | Path) -> list[str]:
    """An SAE folder: cfg.json and metrics.json parse, the weights load with the shapes cfg.json gives, finite."""
    from .sae.io import load_sae

    folder = Path(folder)
    problems = []
    for name in ("cfg.json", "metrics.json"):
        try:
            json.loads((folder / name).read_text())
        except FileNotFoundError:
            problems.append(f"{name} is missing")
        except (OSError, ValueError) as exc:
            problems.append(f"{name} does not parse ({exc})")
    if problems:
        return problems
    try:
        sae, cfg = load_sae(folder)
    except Exception as exc:  # safetensors raises its own error types for a damaged header or body
        return [f"sae_weights.safetensors does not load ({exc})".replace(f"{folder}/", "")]
    if (sae.d_in, sae.d_sae) != (cfg["d_in"], cfg["d_sae"]):
        problems.append(f"weights are {sae.d_in} x {sae.d_sae}, cfg.json says {cfg['d_in']} x {cfg['d_sae']}")
    if not all(bool(p.isfinite().all()) for p in sae.state_dict().values()):
        problems.append("weights hold non-finite values")
    return problems


def check_table(path: str | Path) -> list[str]:
    """A result table: a CSV with a header and at least one row."""
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        return ["missing"]
    except (OSError, ValueError) as exc:
        return [f"does not parse as CSV ({exc})"]
    return [] if len(table) else ["has no rows"]


def verify_study(activations: list[str], saes: list[str], tables: list[str]) -> list[tuple[str, str, str]]:
    """(path, problem, target that rebuilds it) of every damaged or missing artefact, in the order given. An SAE
    folder is rebuilt through its weights file."""
    found = []
    for path in activations:
        problems = ["missing"] if not Path(path).exists() else check_activations(path)
        found += [(path, p, path) for p in problems]
    for folder in saes:
        problems = ["missing"] if not Path(folder).exists() else check_sae(folder)
        found += [(folder, p, f"{folder}/sae_weights.safetensors") for p in problems]
    for path in tables:
        found += [(path, p, path) for p in check_table(path)]
    return found


def rebuild_command(path: str, target: str, options: str = "") -> str:
    """The command that rebuilds one artefact: a damaged one is removed first, so that Snakemake sees it missing.
    ``options``: e.g. the study's --configfile."""
    remove = f"rm -r {path} && " if Path(path).exists() else ""
    return f"{remove}snakemake --cores all {options + ' ' if options else ''}{target}"


def report(found: list[tuple[str, str, str]], options: str = "") -> str:
    """What `snakemake verify` prints: each damaged artefact, its problems, and the command that rebuilds it."""
    by_path: dict[str, list[str]] = {}
    targets = {}
    for path, problem, target in found:
        by_path.setdefault(path, []).append(problem)
        targets[path] = target
    lines = [f"{len(by_path)} damaged or missing artefacts:"]
    for path, problems in by_path.items():
        lines += [f"  {path}: {'; '.join(problems)}", f"    rebuild: {rebuild_command(path, targets[path], options)}"]
    return "\n".join(lines)
