"""A miniature Broderick et al. (OpenNeuro ds004408) BIDS copy."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_dir


def write_bids(root: str | Path, subjects: list[int], runs: list[int], seconds: float = 20.0, sfreq: float = 128.0,
               seed: int = 0) -> Path:
    """A miniature ds004408 at ``root``: every (subject, run) as 128-channel BrainVision EEG at ``sfreq`` that
    follows the envelope of its stimulus (a noise burst train, 44.1 kHz stereo like the release), starting 1 s into
    the recording (events.tsv)."""
    import mne

    from ..analysis import eeg
    from ..data import eeg_bids

    rng = np.random.default_rng(seed)
    sr, pre = 16000, 1.0
    montage = mne.channels.make_standard_montage(eeg_bids.MONTAGE)
    names = montage.ch_names
    pos = np.array(list(montage.get_positions()["ch_pos"].values()))
    topo = eeg._topography(pos, pos[0])
    topo -= topo.mean()
    n = int(seconds * sr)
    stimuli, recordings = {}, {}
    for run in runs:
        am = np.repeat(rng.random(int(seconds * 8) + 1) > 0.5, sr // 8)[:n].astype(np.float32)
        stimuli[run] = ((0.2 * am + 0.01) * rng.standard_normal(n)).astype(np.float32), sr
        env = eeg.zscore(eeg.envelope(stimuli[run][0], sr, sfreq, int(seconds * sfreq)))
        resp = np.convolve(env, eeg.gaussian_kernel(np.arange(int(0.6 * sfreq)) / sfreq, 0.15, 0.03))[: len(env)]
        for subject in subjects:
            data = 15.0 * eeg.pink_noise(rng, int((seconds + pre + 1.0) * sfreq), len(names)).T
            data[:, int(pre * sfreq): int(pre * sfreq) + len(resp)] += 2.0 * topo[:, None] * resp[None, :]
            recordings[(subject, run)] = data
    root = Path(root)
    with atomic_dir(root) as tmp:
        eeg_bids.make_mini_bids(tmp, stimuli, recordings, sfreq=sfreq, events=True)
        (tmp / "REHEARSAL.txt").write_text("Miniature stand-in for OpenNeuro ds004408 (audiosae.rehearsal): generated "
                                           "EEG, not recordings.\n")
    return root


# ------------------------------------------------------------------------------------------------------------ models
