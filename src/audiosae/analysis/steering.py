"""Steering Whisper with SAE features (paper B): false speech detection on non-speech audio (a non-empty
transcript after text normalisation) and word error rate on speech, with the encoder's layer L replaced by
one of these edits of strength s (also measured: Whisper's own no-speech probability, and both rates with
openai-whisper's no-speech gate applied):

- ``ablate_speech``: decode(edit(encode(x))) + the SAE's reconstruction error, where the edit scales the codes
  of the n features most associated with speech (speech vs non-speech frames, AUROC) by ``1 - s``
  (s = 1 ablates them, s > 1 pushes them negative);
- ``amplify_nonspeech``: the same splice, scaling the n features most associated with non-speech by ``1 + s``;
- ``diff``: the activation-difference baseline, x - s * (mean speech frame - mean non-speech frame), on every frame.

Strength 0 is the unsteered model for every method (the SAE splice keeps its error, so it is the identity),
measured once as the baseline. Features and the difference direction come from clips (``select_*``) other
than the ones measured.
"""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pandas as pd
import torch

from ..models.asr import false_detection_rate, gate, layer_frames, transcribe_all, word_error_rate
from .concepts import auroc_per_feature


def speech_features(codes_speech: np.ndarray, codes_nonspeech: np.ndarray, n: int, ranking: str = "auroc") -> np.ndarray:
    """The ``n`` features most associated with speech (frames of speech clips vs frames of non-speech clips):
    highest AUROC, or the largest mean-activation difference. AUROC ties (features that fire on neither class
    sit at 0.5) are broken by the mean-activation difference, then by index."""
    codes = np.concatenate([codes_speech, codes_nonspeech])
    y = np.r_[np.ones(len(codes_speech), bool), np.zeros(len(codes_nonspeech), bool)]
    mean_diff = codes_speech.mean(0) - codes_nonspeech.mean(0)
    if ranking == "auroc":
        score = auroc_per_feature(codes, y)
    elif ranking == "mean_diff":
        score = mean_diff
    else:
        raise ValueError(f"unknown ranking {ranking!r}")
    return np.lexsort((np.arange(len(score)), -mean_diff, -score))[:n]


def scale_features(features: np.ndarray, factor: float):
    """Code edit: multiply the given features by ``factor`` (0 ablates them, negative pushes against speech)."""
    idx = torch.as_tensor(np.asarray(features), dtype=torch.long)

    def edit(codes: torch.Tensor) -> torch.Tensor:
        codes[..., idx] = codes[..., idx] * factor
        return codes

    return edit


def difference_shift(direction: np.ndarray, strength: float):
    """Row function for the activation-difference baseline: x - strength * direction."""
    d = torch.as_tensor(np.asarray(direction), dtype=torch.float32)

    def fn(x: torch.Tensor) -> torch.Tensor:
        return x - strength * d.to(x.device, x.dtype)

    return fn


METHODS = ("ablate_speech", "amplify_nonspeech", "diff")


def steering_edit(method: str, strength: float, sae, speech_feats: np.ndarray, nonspeech_feats: np.ndarray,
                  direction: np.ndarray):
    """The row function that replaces the layer for one (method, strength)."""
    from ..models.splice import sae_edit

    if method == "ablate_speech":
        return sae_edit(sae, scale_features(speech_feats, 1.0 - strength), keep_error=True)
    if method == "amplify_nonspeech":
        return sae_edit(sae, scale_features(nonspeech_feats, 1.0 + strength), keep_error=True)
    if method == "diff":
        return difference_shift(direction, strength)
    raise ValueError(f"unknown steering method {method!r}; expected one of {METHODS}")


def steering_experiment(reader, sae, layer: int, speech: list[np.ndarray], references: list[str], nonspeech: list[np.ndarray],
                        conditions: list[tuple[str, float]], select_speech: list[np.ndarray] | None = None,
                        select_nonspeech: list[np.ndarray] | None = None, n_features: int = 16, batch_size: int = 8,
                        max_new_tokens: int = 64, progress=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """False detection rate on ``nonspeech`` and WER on ``speech`` for the unsteered model and each
    (method, strength) of ``conditions``.

    Features are ranked on the frames of ``select_speech`` / ``select_nonspeech`` (default: the measured clips).
    Returns (trade-off table, transcripts table); the baseline is the row with method 'none'.
    """
    from ..models.splice import splice

    for method, _ in conditions:
        if method not in METHODS:
            raise ValueError(f"unknown steering method {method!r}; expected one of {METHODS}")
    sel_s = select_speech if select_speech is not None else speech
    sel_n = select_nonspeech if select_nonspeech is not None else nonspeech
    frames_s, frames_n = layer_frames(reader, sel_s, layer, batch_size), layer_frames(reader, sel_n, layer, batch_size)
    with torch.no_grad():
        enc = lambda x: np.concatenate([sae.encode(torch.from_numpy(x[i : i + 4096]).float()).numpy() for i in range(0, len(x), 4096)])
        codes_s, codes_n = enc(frames_s), enc(frames_n)
    speech_feats = speech_features(codes_s, codes_n, n_features, "auroc")
    nonspeech_feats = speech_features(codes_n, codes_s, n_features, "auroc")
    direction = frames_s.mean(0) - frames_n.mean(0)

    rows, texts = [], []
    for method, strength in [("none", 0.0)] + [(m, float(s)) for m, s in conditions if float(s) != 0.0]:
        edit = nullcontext() if method == "none" else splice(reader, layer, steering_edit(method, strength, sae, speech_feats, nonspeech_feats, direction))
        with edit:
            (hyp_s, nsp_s), (hyp_n, nsp_n) = (transcribe_all(reader, clips, batch_size, max_new_tokens) for clips in (speech, nonspeech))
        rows.append({"method": method, "strength": strength, "n_features": n_features if method in METHODS[:2] else 0,
                     "false_detection_rate": false_detection_rate(hyp_n), "wer": word_error_rate(references, hyp_s),
                     "no_speech_prob_nonspeech": float(nsp_n.mean()), "no_speech_prob_speech": float(nsp_s.mean()),
                     "gated_false_detection_rate": false_detection_rate(gate(hyp_n, nsp_n)),
                     "gated_wer": word_error_rate(references, gate(hyp_s, nsp_s)),
                     "n_speech": len(speech), "n_nonspeech": len(nonspeech)})
        texts += [{"method": method, "strength": strength, "kind": "speech", "clip": i, "reference": r, "transcript": h, "no_speech_prob": float(p)}
                  for i, (r, h, p) in enumerate(zip(references, hyp_s, nsp_s))]
        texts += [{"method": method, "strength": strength, "kind": "nonspeech", "clip": i, "reference": "", "transcript": h, "no_speech_prob": float(p)}
                  for i, (h, p) in enumerate(zip(hyp_n, nsp_n))]
        if progress is not None:
            progress(rows[-1])
    table = pd.DataFrame(rows)
    base = table.iloc[0]
    table["false_detection_change"] = table["false_detection_rate"] / base["false_detection_rate"] - 1 if base["false_detection_rate"] > 0 else np.nan
    table["wer_change"] = table["wer"] - base["wer"]
    table["speech_features"] = " ".join(map(str, speech_feats.tolist()))
    table["nonspeech_features"] = " ".join(map(str, nonspeech_feats.tolist()))
    return table, pd.DataFrame(texts)


def _round_robin(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rows reordered so that the first n take from every value of ``column`` in turn (table order within one)."""
    if column not in df.columns:
        return df
    return df.assign(_rank=df.groupby(column).cumcount()).sort_values(["_rank", column], kind="stable").drop(columns="_rank")


def steering_clips(clips: pd.DataFrame, split: str, max_speech: int, max_nonspeech: int,
                   with_text: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Speech clips and non-speech clips of one split, taken round-robin over sources (speech) and sound classes
    (non-speech) so that every one is represented. With a ``speech`` column (speech / nonspeech) it decides; speech
    without known text (a meeting extract, a word in another language) is speech all the same, used to choose
    features but not for WER (``with_text``). Without it, a clip with a transcript is speech and one without is not."""
    part = clips[clips["split"] == split]
    has_text = part["transcript"].astype(str).str.strip() != ""
    is_speech = part["speech"].astype(str) == "speech" if "speech" in part.columns else has_text
    speech = _round_robin(part[is_speech & has_text if with_text else is_speech], "source").head(max_speech)
    return speech, _round_robin(part[~is_speech], "sound_class").head(max_nonspeech)


def steering_study(reader, clips_csv, saes: dict, conditions: list[tuple[str, float]], n_features: int = 16,
                   max_speech: int = 12, max_nonspeech: int = 12, batch_size: int = 8, max_new_tokens: int = 64,
                   progress=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`steering_experiment` for each ``layer -> SAE`` of ``saes``: features chosen on training clips,
    measured on test clips (valid when there is no test split) of a clip table with speech and non-speech."""
    from pathlib import Path

    from ..data.audio import load_audio

    clips = pd.read_csv(clips_csv, keep_default_na=False)
    if "transcript" not in clips.columns:
        raise ValueError(f"{clips_csv}: steering needs a transcript column (empty for non-speech clips)")
    root = Path(clips_csv).parent
    load = lambda df: [load_audio(root / p, reader.sample_rate) for p in df["path"]]
    held = "test" if (clips["split"] == "test").any() else "valid"
    sel_s, sel_n = steering_clips(clips, "train", max_speech, max_nonspeech, with_text=False)
    ev_s, ev_n = steering_clips(clips, held, max_speech, max_nonspeech)
    for name, df in (("training speech", sel_s), ("training non-speech", sel_n), (f"{held} speech", ev_s), (f"{held} non-speech", ev_n)):
        if df.empty:
            raise ValueError(f"{clips_csv}: no {name} clips to steer with")
    audio = {k: load(df) for k, df in (("sel_s", sel_s), ("sel_n", sel_n), ("ev_s", ev_s), ("ev_n", ev_n))}
    tables, texts = [], []
    for layer, sae in saes.items():
        table, text = steering_experiment(reader, sae, layer, audio["ev_s"], ev_s["transcript"].tolist(), audio["ev_n"],
                                          conditions, audio["sel_s"], audio["sel_n"], n_features, batch_size,
                                          max_new_tokens, progress)
        ids = {"speech": ev_s["id"].astype(str).tolist(), "nonspeech": ev_n["id"].astype(str).tolist()}
        text.insert(3, "id", [ids[k][i] for k, i in zip(text["kind"], text["clip"])])
        tables.append(table.assign(layer=layer, split=held))
        texts.append(text.drop(columns="clip").assign(layer=layer))
    return pd.concat(tables, ignore_index=True), pd.concat(texts, ignore_index=True)
