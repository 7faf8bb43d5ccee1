"""Stand-ins for what an offline machine cannot have, so that a full study rehearses its whole DAG here.

``config/rehearsal.yaml`` on top of ``config/paper.yaml`` (``rehearsal.enabled``) keeps every rule, target and
option of the study and replaces only:

- each dataset archive by a miniature in the real layout (the parsers' own ``write_miniature``), packed like the
  release, served over ``file://`` and verified against its sha256 like a real download (:func:`write_archive`);
- the Broderick et al. EEG (OpenNeuro ds004408) by a miniature BIDS copy: 128-channel BrainVision recordings of
  the chosen subjects and runs, with stimulus WAVs, events and sidecars in the real names (:func:`write_bids`);
- each hub model by a randomly initialised model of the same transformers class and the same layer count, with a
  small hidden size, saved as a transformers folder that the hub fetch loads in place of the hub
  (:func:`write_random_model`). MERT's hub code is not available offline: its stand-in is transformers'
  ``HubertModel`` (MERT v1 is a HuBERT variant) at 24 kHz, labelled so. Whisper stand-ins use the English
  tokenizer and generation settings of the packaged Whisper tiny.en (the only ones offline).

Every stand-in model folder holds ``rehearsal.json`` (random_init: true); the hub fetch copies it into
``provenance.json``, and the activation files and every SAE's cfg.json carry ``weights_random_init``. Nothing a
rehearsal computes is a result: it proves shapes, paths, file formats and that every rule runs, not numbers.

Modules, one per stand-in rule (each runs in its own conda env and imports only what it needs):
``archives`` (:func:`write_archive`), ``bids`` (:func:`write_bids`), ``models`` (:func:`write_random_model`).
"""
from __future__ import annotations

import json
from pathlib import Path

RANDOM_INIT_NOTE = ("RANDOM WEIGHTS: a rehearsal stand-in (audiosae.rehearsal), not the hub model; nothing computed "
                    "from it is a result")

# kind -> (module with write_miniature, archive format of the release)
ARCHIVE_KINDS = {
    "vocalset": ("vocalset", "zip"),
    "librispeech": ("librispeech", "gztar"),
    "esc50": ("esc50", "zip"),
    "nsynth": ("nsynth", "gztar"),
    "vocalsound": ("vocalsound", "zip"),
}
_SUFFIX = {"zip": ".zip", "gztar": ".tar.gz"}
MINIATURE_SCALE = 4


def stand_in_record(model_dir: str | Path) -> dict | None:
    """The rehearsal record of a model folder (its stand-in's rehearsal.json), or None for real weights."""
    path = Path(model_dir) / "rehearsal.json"
    return json.loads(path.read_text()) if path.exists() else None
