"""The EEG stimuli as a dataset kind (``eeg_stimuli``): the speech runs the listeners hear, and the chunks of at most
``chunk_s`` seconds the model takes, whose clip table feeds the study's usual extraction and SAE rules.

Options (filled in by :func:`audiosae.plan.study_datasets` from the eeg section): source (simulated | broderick),
seed, chunk_s, simulation (eSpeak runs), bids_root and runs (Broderick et al.'s stimuli/audioNN.wav).
Writes runs.csv (run, path, duration_s) and chunks.csv (the clip table before the checks) beside the audio.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..io import write_csv

EXTRA_OUTPUTS = ("runs.csv", "chunks.csv")


def inputs(opts: dict) -> dict:
    """Broderick's stimulus WAVs (downloaded by the EEG branch); the simulated runs need no input."""
    if opts["source"] != "broderick":
        return {}
    from .eeg_bids import stimulus_file

    return {"stimuli": [f"{opts['bids_root']}/{stimulus_file(r)}" for r in opts["runs"]]}


def prepare(root: Path, opts: dict, seed: int, archive=None, progress: bool = True) -> None:
    root = Path(root)
    if opts["source"] == "simulated":
        sim = opts["simulation"]
        runs = build_speech_runs(root, sim["runs"], sim["run_seconds"], sim["speakers"], sim["n_sentences"],
                                 seed=opts["seed"], progress=progress)
    else:
        from .eeg_bids import stimulus_runs

        runs = stimulus_runs(opts["bids_root"], opts["runs"], root)
    chunks = chunk_runs(runs, root, opts["chunk_s"])
    write_csv(runs, root / "runs.csv")
    write_csv(chunks, root / "chunks.csv")


def clip_table(root: Path, opts: dict, seed: int) -> pd.DataFrame:
    return pd.read_csv(Path(root) / "chunks.csv", keep_default_na=False)


def build_speech_runs(root: str | Path, n_runs: int, run_seconds: float, speakers: list[str],
                      n_sentences: int = 20, sample_rate: int = 16000, gap_s: tuple[float, float] = (0.15, 0.6),
                      seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Concatenate eSpeak sentences (speakers in turn, random pauses) into ``n_runs`` runs of ``run_seconds``.

    Writes ``root/audio/run-XX.wav`` and ``root/sentences.csv`` (run, onset_s, offset_s, speaker, text);
    returns the run table (run, path relative to ``root``, duration_s).
    """
    from .audio import resample
    from .speech import SENTENCES, _normalise, speak, speaker_from_name
    from .audio import write_wav
    from ..io import write_csv

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
    from .audio import load_audio
    from .audio import write_wav

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
