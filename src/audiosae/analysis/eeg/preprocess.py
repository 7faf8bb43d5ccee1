"""3b. Preprocessing: re-reference, band-pass, resample and crop a recording to its stimulus."""
from __future__ import annotations

import numpy as np


def preprocess_raw(raw, onset_s: float, duration_s: float, l_freq: float = 1.0, h_freq: float = 8.0,
                   sfreq: float = 64.0, reference: str | list = "average") -> np.ndarray:
    """Re-reference, band-pass, resample and crop one recording to its stimulus; (samples x channels) in uV.

    Filtering and resampling run on the whole recording, so the stimulus window has no filter edges.
    """
    raw = raw.copy().load_data(verbose="error").pick("eeg", exclude="bads")
    raw.set_eeg_reference(reference if reference != "average" else "average", projection=False, verbose="error")
    raw.filter(l_freq, h_freq, fir_design="firwin", verbose="error")
    raw.resample(sfreq, verbose="error")
    start = int(round(onset_s * sfreq))
    n = int(round(duration_s * sfreq))
    data = raw.get_data() * 1e6
    if start + n > data.shape[1]:
        raise ValueError(f"the stimulus ({onset_s:.2f} s + {duration_s:.2f} s) runs past the end of the recording "
                         f"({data.shape[1] / sfreq:.2f} s)")
    return data[:, start : start + n].T.astype(np.float32)


def stimulus_onset(raw, run: int) -> float:
    """Onset (s from the recording start) of the annotation ``stimulus/run-XX``."""
    for a in raw.annotations:
        if a["description"] == f"stimulus/run-{run:02d}":
            return float(a["onset"] - raw.first_time) if raw.first_samp and a["onset"] >= raw.first_time else float(a["onset"])
    raise KeyError(f"no 'stimulus/run-{run:02d}' annotation in the recording")
