"""Speech-recognition helpers shared by the analyses and the SAE layer: text normalisation, WER and false
detection rate of transcripts, batched transcription with Whisper's no-speech probability, the no-speech gate,
and the real frames of one layer for a list of clips (a reader such as
:class:`~audiosae.models.whisper.WhisperEncoderActivations`)."""
from __future__ import annotations

import re
import unicodedata

import numpy as np


def normalise_text(text: str) -> str:
    """Lower case, no punctuation or symbols, single spaces (so '...', ' . ' or '♪' count as empty)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(c if (unicodedata.category(c)[0] in "LN" or c.isspace() or c == "'") else " " for c in text)
    return re.sub(r"\s+", " ", text.replace("'", "")).strip()


def false_detection_rate(transcripts: list[str]) -> float:
    """Share of transcripts that are not empty after normalisation (on non-speech clips: false detections)."""
    return float(np.mean([bool(normalise_text(t)) for t in transcripts])) if transcripts else float("nan")


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER of normalised texts (jiwer)."""
    import jiwer

    refs = [normalise_text(r) for r in references]
    hyps = [normalise_text(h) for h in hypotheses]
    keep = [i for i, r in enumerate(refs) if r]
    if not keep:
        return float("nan")
    return float(jiwer.wer([refs[i] for i in keep], [hyps[i] for i in keep]))


def layer_frames(reader, audios: list[np.ndarray], layer: int, batch_size: int = 8) -> np.ndarray:
    """Real frames of one layer for a list of clips, stacked."""
    out = []
    for i in range(0, len(audios), batch_size):
        out += [clip[0].numpy() for clip in reader.layer_activations(audios[i : i + batch_size], layers=[layer])]
    return np.concatenate(out)


# openai-whisper's default no_speech_threshold: above it a segment may be dropped as silence.
NO_SPEECH_THRESHOLD = 0.6


def transcribe_all(reader, audios: list[np.ndarray], batch_size: int = 8, max_new_tokens: int = 64) -> tuple[list[str], np.ndarray]:
    """Greedy transcripts and Whisper's no-speech probability of every clip, in batches."""
    texts, probs = [], []
    for i in range(0, len(audios), batch_size):
        t, p = reader.transcribe_and_detect(audios[i : i + batch_size], max_new_tokens=max_new_tokens)
        texts += t
        probs.append(p)
    return texts, np.concatenate(probs) if probs else np.zeros(0)


def gate(transcripts: list[str], no_speech_prob: np.ndarray, threshold: float = NO_SPEECH_THRESHOLD) -> list[str]:
    """Transcripts with Whisper's no-speech gate applied: empty where the no-speech probability exceeds the
    threshold (openai-whisper's rule without its second condition, a mean log-probability below -1)."""
    return ["" if p > threshold else t for t, p in zip(transcripts, no_speech_prob)]
