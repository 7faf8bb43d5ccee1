"""The ``audiosae`` command: a trained SAE outside the workflow (see :mod:`audiosae.api`).

    audiosae encode SAE_DIR AUDIO [--model-dir DIR] [--out codes.npy] [--unit frames|clip_means]
    audiosae top-features SAE_DIR AUDIO [-n 10] [--model-dir DIR] [--csv table.csv]
    audiosae export SAE_DIR OUT_DIR [--overwrite]

Also runs as ``python -m audiosae.cli``. Errors (a missing SAE folder, model folder or audio file, an unreadable
file) are one line naming the file, with exit status 1; usage errors exit with 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from . import __version__


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="audiosae", description="Use a trained audiosae SAE outside the workflow.")
    p.add_argument("--version", action="version", version=f"audiosae {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def model_args(q):
        q.add_argument("sae_dir", metavar="SAE_DIR", help="an SAE folder (cfg.json + sae_weights.safetensors)")
        q.add_argument("audio", metavar="AUDIO", help="an audio file (any format soundfile reads; resampled)")
        q.add_argument("--model-dir", help="the prepared model folder (default: resources/models/<model of the SAE>)")
        q.add_argument("--device", default="cpu", help="torch device (default: cpu)")

    q = sub.add_parser("encode", help="encode an audio file into SAE features (a .npy array)",
                       description="Write the SAE codes of AUDIO as a float32 .npy array: (frames, d_sae) for an SAE "
                                   "trained on frames, (1, d_sae) for one trained on clip means.")
    model_args(q)
    q.add_argument("--out", help="output .npy file (default: <AUDIO stem>.codes.npy in the current folder)")
    q.add_argument("--unit", choices=("frames", "clip_means"), help="override the SAE's own unit (cfg.json train_on)")

    q = sub.add_parser("top-features", help="print the strongest features of an audio file",
                       description="Print the N strongest features of AUDIO: mean and max activation over frames, "
                                   "fraction of frames active, time of the peak (and the clip-mean code for an SAE "
                                   "trained on clip means, which ranks them).")
    model_args(q)
    q.add_argument("-n", type=int, default=10, help="how many features (default: 10)")
    q.add_argument("--csv", help="also write the table to this CSV file")

    q = sub.add_parser("export", help="write a SAELens / hub folder with a model card",
                       description="Write SAE_DIR as a SAELens folder (sae_weights.safetensors, cfg.json, "
                                   "metrics.json, README.md model card) at OUT_DIR.")
    q.add_argument("sae_dir", metavar="SAE_DIR")
    q.add_argument("out_dir", metavar="OUT_DIR")
    q.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it exists and is not empty")
    return p


def _quiet_loading() -> None:
    """No progress bar on stderr while transformers loads the model's weights."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _encode(args) -> None:
    from . import api
    from .io import atomic_path

    _quiet_loading()
    codes = api.encode_file(args.audio, args.sae_dir, model_dir=args.model_dir, device=args.device, unit=args.unit)
    out = Path(args.out) if args.out else Path(f"{Path(args.audio).stem}.codes.npy")
    with atomic_path(out, suffix=".npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, codes)
    active = float((codes != 0).sum(1).mean()) if codes.size else 0.0
    print(f"wrote {out}: {codes.shape[0]} x {codes.shape[1]} codes (mean {active:.1f} active per row)")


def _top_features(args) -> None:
    from . import api
    from .io import write_csv

    _quiet_loading()
    table = api.top_features(args.audio, args.sae_dir, n=args.n, model_dir=args.model_dir, device=args.device)
    if args.csv:
        write_csv(table, args.csv)
    if table.empty:
        print(f"{args.audio}: no active feature")
        return
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


def _export(args) -> None:
    from .export import export_sae

    out = export_sae(args.sae_dir, args.out_dir, overwrite=args.overwrite)
    print(f"wrote {out} (sae_weights.safetensors, cfg.json, README.md): loads with sae_lens.SAE.load_from_disk")


COMMANDS = {"encode": _encode, "top-features": _top_features, "export": _export}


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: sys.argv[1:]); return the exit status."""
    args = _parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError, OSError) as exc:
        print(f"audiosae {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
