"""The downstream cost of an SAE: splice its reconstruction into the model and measure what the model does.

For Whisper, on speech clips with reference transcripts, with the encoder's layer L replaced by
- nothing (the clean model),
- the SAE's reconstruction decode(encode(x)),
- the mean frame of layer L over the same clips (mean ablation: the layer carries no information),
the decoder's teacher-forced cross-entropy of the reference text, and the WER of greedy transcripts.
``ce_recovered`` = (CE_ablated - CE_sae) / (CE_ablated - CE_clean) is 1 for a perfect SAE and 0 for one
no better than the mean (the "loss recovered" of the language-model SAE literature).
"""
from __future__ import annotations

import numpy as np
import torch

from ..models.asr import layer_frames, transcribe_all, word_error_rate
from ..models.splice import sae_reconstruction, splice


def _batched(fn, audios, texts, batch_size):
    return np.concatenate([fn(audios[i : i + batch_size], texts[i : i + batch_size]) for i in range(0, len(audios), batch_size)])


def whisper_splice_effect(reader, sae, layer: int, audios: list[np.ndarray], texts: list[str], batch_size: int = 8,
                          max_new_tokens: int = 64) -> dict:
    """Cross-entropy and WER of Whisper on ``audios`` clean, with ``sae`` spliced at ``layer``, and mean-ablated."""
    if not audios:
        raise ValueError("the splice effect needs at least one speech clip with a transcript")
    mean = torch.from_numpy(layer_frames(reader, audios, layer, batch_size).mean(0))

    def ce():
        return float(_batched(reader.text_loss, audios, texts, batch_size).mean())

    def wer():
        return word_error_rate(texts, transcribe_all(reader, audios, batch_size, max_new_tokens)[0])

    ce_clean, wer_clean = ce(), wer()
    with splice(reader, layer, sae_reconstruction(sae)):
        ce_sae, wer_sae = ce(), wer()
    with splice(reader, layer, lambda x: mean.to(x.device, x.dtype).expand_as(x).clone()):
        ce_ablated = ce()
    gap = ce_ablated - ce_clean
    return {
        "n_clips": len(audios),
        "ce_clean": ce_clean,
        "ce_sae": ce_sae,
        "ce_mean_ablated": ce_ablated,
        "ce_delta": ce_sae - ce_clean,
        "ce_recovered": (ce_ablated - ce_sae) / gap if gap > 0 else float("nan"),
        "wer_clean": wer_clean,
        "wer_sae": wer_sae,
        "wer_delta": wer_sae - wer_clean,
    }


def speech_clips(clips_csv, max_clips: int, sample_rate: int = 16000, splits=("test", "valid")) -> tuple[list[np.ndarray], list[str]]:
    """Up to ``max_clips`` held-out clips with a transcript (test first, then valid), as 16 kHz audio and text.
    Clip-table paths are relative to the table's folder."""
    from pathlib import Path

    import pandas as pd

    from ..data.audio import load_audio

    clips = pd.read_csv(clips_csv, keep_default_na=False)
    if "transcript" not in clips.columns:
        raise ValueError(f"{clips_csv}: no transcript column, so no speech to measure the splice effect on")
    spoken = clips[clips["transcript"].astype(str).str.strip() != ""]
    chosen = pd.concat([spoken[spoken["split"] == s] for s in splits]).head(max_clips)
    if chosen.empty:
        raise ValueError(f"{clips_csv}: no held-out clip ({'/'.join(splits)}) has a transcript")
    root = Path(clips_csv).parent
    return [load_audio(root / p, sample_rate) for p in chosen["path"]], chosen["transcript"].astype(str).tolist()
