"""1. Stimuli: speech runs the listeners hear, cut into chunks the model can take."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm


def build_speech_runs(root: str | Path, n_runs: int, run_seconds: float, speakers: list[str],
                      n_sentences: int = 20, sample_rate: int = 16000, gap_s: tuple[float, float] = (0.15, 0.6),
                      seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Concatenate eSpeak sentences (speakers in turn, random pauses) into ``n_runs`` runs of ``run_seconds``.

    Writes ``root/audio/run-XX.wav`` and ``root/sentences.csv`` (run, onset_s, offset_s, speaker, text);
    returns the run table (run, path relative to ``root``, duration_s).
    """
    from ...data.audio import resample
    from ...data.speech import SENTENCES, _normalise, speak, speaker_from_name
    from ...data.audio import write_wav
    from ...io import write_csv

    root = Path(root)
    rng = np.random.default_rng(seed)
    texts = list(SENTENCES[:n_sentences])
    pool = [(speaker_from_name(s), t) for t in texts for s in speakers]
    rng.shuffle(pool)
    cache: dict[tuple[str, str], np.ndarray] = {}
    runs, sentences, i = [], [], 0
    total = int(round(run_seconds * sample_rate))
    bar = tqdm(total=n_runs, desc="speech runs", unit="run", disable=not progress)
    for run in range(1, n_runs + 1):
        audio = np.zeros(total, dtype=np.float32)
        cursor = int(rng.uniform(*gap_s) * sample_rate)
        while cursor < total:
            speaker, text = pool[i % len(pool)]
            i += 1
            key = (speaker.name, text)
            if key not in cache:
                raw, rate = speak(text, speaker)
                cache[key] = _normalise(resample(raw, rate, sample_rate), float(rng.uniform(-26.0, -22.0)))
            utt = cache[key][: total - cursor]
            audio[cursor : cursor + len(utt)] = utt
            sentences.append(dict(run=run, onset_s=cursor / sample_rate, offset_s=(cursor + len(utt)) / sample_rate,
                                  speaker=speaker.name, text=text))
            cursor += len(utt) + int(rng.uniform(*gap_s) * sample_rate)
        fade = min(len(audio), int(0.02 * sample_rate))
        audio[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
        path = f"audio/run-{run:02d}.wav"
        write_wav(root / path, audio, sample_rate)
        runs.append(dict(run=run, path=path, duration_s=total / sample_rate))
        bar.update()
    bar.close()
    write_csv(pd.DataFrame(sentences), root / "sentences.csv", float_format=None)
    return pd.DataFrame(runs)


def chunk_runs(runs: pd.DataFrame, root: str | Path, chunk_s: float = 20.0, sample_rate: int = 16000,
               valid_every: int = 5) -> pd.DataFrame:
    """Cut each run (paths relative to ``root``) into consecutive chunks of at most ``chunk_s`` seconds.

    Writes ``root/audio/chunks/<run>_cNN.wav``; returns a clip table (id, path relative to ``root``, split,
    run, chunk, start_s, duration_s). Every ``valid_every``-th chunk (at least one) is 'valid' (held out from
    SAE training).
    """
    from ...data.audio import load_audio
    from ...data.audio import write_wav

    root = Path(root)
    rows, n = [], 0
    step = int(round(chunk_s * sample_rate))
    for run in runs.itertuples():
        audio = load_audio(root / run.path, sample_rate)
        for c, start in enumerate(range(0, len(audio), step)):
            piece = audio[start : start + step]
            if len(piece) < sample_rate // 10:  # a last sliver under 0.1 s carries no frames worth keeping
                continue
            cid = f"run-{int(run.run):02d}_c{c:02d}"
            path = f"audio/chunks/{cid}.wav"
            write_wav(root / path, piece, sample_rate)
            split = "valid" if valid_every and n % valid_every == valid_every - 1 else "train"
            rows.append(dict(id=cid, path=path, split=split, run=int(run.run), chunk=c, start_s=start / sample_rate,
                             duration_s=len(piece) / sample_rate))
            n += 1
    table = pd.DataFrame(rows)
    if valid_every and len(table) > 1 and not (table["split"] == "valid").any():
        table.loc[table.index[-1], "split"] = "valid"  # the SAE's held-out metrics need at least one chunk
    return table
