"""EEG correlation of model features (paper B): forward TRFs from stimulus features to the EEG of listeners.

Pipeline (each step a function, wired by rules/eeg.smk):

1. Stimuli: a dataset of kind ``eeg_stimuli`` (:mod:`audiosae.data.eeg_stimuli`): speech runs the listeners hear
   (eSpeak sentences, or the real dataset's WAVs) cut into chunks the model can take (<= 30 s for Whisper),
   prepared, extracted and given their SAE by the study's common rules.
2. Stimulus features at the EEG rate (``run_features``): the acoustic envelope, its onsets (half-wave
   rectified derivative), dense layer frames and SAE codes, resampled from the model's frame rate.
3. EEG: simulated (``simulate_listeners``: a planted temporal response function driven by the envelope,
   onsets and chosen SAE features, plus 1/f, alpha and line noise; FIF with the stimulus onset as an
   annotation; the planted truth beside it) or read from BIDS (:mod:`audiosae.data.eeg_bids`), then
   ``preprocess_raw``: re-reference, band-pass (1-8 Hz), resample (64 Hz), crop to the stimulus.
4. Forward TRFs (``CircularTRF``): ridge regression from time-lagged features (0-500 ms) to every channel,
   scored by held-out Pearson r per channel with runs as folds and the ridge strength chosen by an inner
   cross-validation over the training runs' segments. The design uses circular lags within each segment,
   so the sufficient statistics (auto- and cross-correlations, by FFT) of every circular shift of a
   stimulus are slices of one computation: the null from circularly shifted stimuli costs little. The
   estimator agrees with ``mne.decoding.ReceptiveField`` (tested), which fits the TRFs drawn in figures.
5. Statistics: the gain of a model over the acoustic base (envelope + onsets) per channel, its null from
   shifting only the added features (the same draws for every listener; p from a normal fitted to the
   null draws, the empirical p beside it), Benjamini-Hochberg FDR over channels, over features and over
   layers; significant = q below the FDR level and a positive gain. SAE features are screened by variance
   (stimulus only), tested one at a time, and the top set jointly (selected on the same data: descriptive).

Modules: ``features`` (2), ``simulate`` (3a), ``preprocess`` (3b), ``trf`` (4: CircularTRF and the
``mne_trf`` reference), ``analysis`` (5) and ``files`` (the HDF5 files between the workflow steps). Every name is
re-exported here, so ``from audiosae.analysis import eeg; eeg.X`` works for all of them.
"""
from __future__ import annotations

# The private helpers are re-exported too (tests call eeg._topography and eeg._gauss_p), outside __all__.
from .analysis import EEGStudy, Listener, _gauss_p, _perm_p, analyse, bh_fdr, peak_lag
from .features import (
    RunFeatures,
    _ratio,
    encode_frames,
    envelope,
    layer_pcs,
    onsets,
    run_features,
    run_frames,
    screen_features,
    to_rate,
    zscore,
)
from .files import read_eeg, read_features, stimulus_features, write_eeg, write_features
from .preprocess import preprocess_raw, stimulus_onset
from .simulate import _topography, choose_planted, envelope_kernel, gaussian_kernel, pink_noise, simulate_listeners
from .trf import CircularTRF, Segment, _xcorr, draw_shifts, make_segment, mne_trf, split_segments

__all__ = [
    "to_rate",
    "envelope",
    "onsets",
    "run_frames",
    "encode_frames",
    "RunFeatures",
    "run_features",
    "zscore",
    "screen_features",
    "layer_pcs",
    "gaussian_kernel",
    "envelope_kernel",
    "pink_noise",
    "choose_planted",
    "simulate_listeners",
    "preprocess_raw",
    "stimulus_onset",
    "Segment",
    "make_segment",
    "split_segments",
    "CircularTRF",
    "draw_shifts",
    "mne_trf",
    "bh_fdr",
    "Listener",
    "EEGStudy",
    "peak_lag",
    "analyse",
    "stimulus_features",
    "write_features",
    "read_features",
    "write_eeg",
    "read_eeg",
]
