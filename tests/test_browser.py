"""Feature browser: association maths, spectrogram strips, the page builder on a study made by code,
and the built pages in headless Chromium (opened from disk, audio played back, no console errors)."""
from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import h5py
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from audiosae.analysis import interpret
from audiosae.browser import BrowserOptions, build_index, build_sae_page
from audiosae.browser.spectrogram import GAP, N_MELS, TRACE, band_position, feature_strip, frequency_ticks, log_mel

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)


# ---------------------------------------------------------------- association maths


def test_concept_auroc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    codes = np.maximum(rng.normal(size=(40, 6)), 0)  # many exact zeros: ties
    labels = pd.DataFrame({"technique": rng.choice(["belt", "fry", "trill"], 40), "gender": rng.choice(["f", "m"], 40)})
    codes[labels["technique"] == "belt", 2] += 3.0  # feature 2 fires on belt
    table = interpret.concept_auroc(codes, labels)
    assert len(table) == 6 * 5  # 3 techniques + 2 genders per feature
    for row in table.sample(10, random_state=0).itertuples():
        y = (labels[row.concept] == row.value).to_numpy()
        assert row.auroc == pytest.approx(roc_auc_score(y, codes[:, row.feature]))
        assert row.mean_diff == pytest.approx(codes[y, row.feature].mean() - codes[~y, row.feature].mean())
    belt = table[(table["feature"] == 2) & (table["value"] == "belt")]["auroc"].item()
    assert belt > 0.95


def test_rankdata_and_spearman():
    from scipy.stats import rankdata, spearmanr

    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, size=(30, 5)).astype(float)
    assert np.allclose(interpret.rankdata(x), rankdata(x, axis=0))
    numeric = pd.DataFrame({"f0_hz": rng.normal(size=30), "loudness_db": rng.normal(size=30)})
    numeric.loc[3, "f0_hz"] = np.nan  # missing values are left out
    r = interpret.spearman_columns(x, numeric)
    ok = numeric["f0_hz"].notna().to_numpy()
    expected = spearmanr(x[ok, 1], numeric["f0_hz"][ok]).statistic
    assert r[(r["feature"] == 1) & (r["variable"] == "f0_hz")]["r"].item() == pytest.approx(expected)


def test_ridge_probe_weights_point_at_the_informative_feature():
    rng = np.random.default_rng(2)
    y = np.array(["a", "b", "c"] * 20)
    codes = np.abs(rng.normal(size=(60, 50)))
    codes[y == "c", 7] += 4.0
    codes[:, 9] = 0.0  # dead feature
    W, classes = interpret.ridge_probe_weights(codes, y, alpha=1.0)
    assert classes == ["a", "b", "c"] and W.shape == (3, 50)
    assert np.argmax(W[2]) == 7 and W[2, 7] > 0
    assert np.all(W[:, 9] == 0)
    Wb, cb = interpret.ridge_probe_weights(codes, np.where(y == "c", "yes", "no"))
    assert cb == ["yes"] and Wb.shape == (1, 50) and np.argmax(Wb[0]) == 7


def test_select_features_and_snippet_window():
    density = np.array([0.0, 0.9, 0.1, 0.5, 0.0, 0.3])
    strength = np.array([0.5, 0.0, 0.4, 0.1, 0.45, 0.2])
    chosen = interpret.select_features(density, strength, 4)
    assert chosen[:2] == [2, 5]  # by association, live ones only (0 and 4 are dead)
    assert chosen[2:] == [1, 3]  # then by density
    assert interpret.select_features(density, strength, 10) == [2, 5, 3, 1]  # every live feature, no more
    assert interpret.snippet_window(100, 50, 50.0, 1.5) == (13, 88)
    assert interpret.snippet_window(100, 2, 50.0, 1.5) == (0, 75)
    assert interpret.snippet_window(100, 99, 50.0, 1.5) == (25, 100)
    assert interpret.snippet_window(40, 10, 50.0, 1.5) == (0, 40)
    codes = np.array([[0.0, 1.0], [3.0, 0.0], [2.0, 0.0]])
    assert interpret.top_clips(codes, 0, 5) == [1, 2] and interpret.top_clips(codes, 1, 1) == [0]


def test_strongest_concept_only_where_a_label_separates():
    auroc = pd.DataFrame({"feature": [0, 0, 1, 1, 2], "concept": ["technique", "gender", "technique", "gender", "gender"],
                          "value": ["belt", "male", "belt", "male", "male"], "auroc": [0.55, 0.2, 0.55, 0.47, 0.6],
                          "mean_diff": [0.1, -0.3, 0.01, 0.0, 0.2], "n": [5, 9, 5, 9, 9]})
    table, best, strength = interpret.strongest_concepts(auroc, 4)
    assert interpret.MIN_SEPARATION == 0.1
    assert list(best.index) == [0, 2]  # feature 1's strongest association, |0.55 - 0.5|, separates nothing
    assert best.loc[0, "value"] == "male" and best.loc[2, "auroc"] == 0.6
    assert strength == pytest.approx([0.3, 0.05, 0.1, 0.0])  # the strength itself is kept for every feature (3: none)
    _, best, _ = interpret.strongest_concepts(auroc, 4, min_separation=0.0)
    assert list(best.index) == [0, 1, 2]


def test_frequency_ticks_sit_on_their_mel_bands():
    ticks = frequency_ticks()
    assert [t["label"] for t in ticks] == ["250", "500", "1k", "2k", "4k"]  # 8 kHz is above the top band's centre
    ys = [t["y"] for t in ticks]
    assert ys == sorted(ys) and 0 < ys[0] and ys[-1] < 1
    t = np.arange(16000) / 16000
    for f in (250, 1000, 4000):
        band = int(log_mel(0.3 * np.sin(2 * np.pi * f * t))[:, 50].argmax())  # lowest band first
        assert abs(band_position(f) * N_MELS - (band + 0.5)) <= 1.0  # the tick is within a band of the energy


def test_feature_strip_draws_spectrograms_and_trace(tmp_path):
    from PIL import Image

    sr = 16000
    t = np.arange(int(1.5 * sr)) / sr
    low, high = 0.3 * np.sin(2 * np.pi * 200 * t), 0.3 * np.sin(2 * np.pi * 4000 * t)
    spec = log_mel(low)
    assert spec.shape == (N_MELS, 150)
    assert spec[:, 75].argmax() < spec[:, 75].shape[0] // 3  # 200 Hz lands in the low mel bands
    acts = [np.linspace(0, 1, 75), np.zeros(75)]
    spans = feature_strip([low, high], acts, tmp_path / "f.png")
    img = np.array(Image.open(tmp_path / "f.png"))
    assert img.shape == (N_MELS, 150 * 2 + 3) and spans == [(0, 150), (153, 303)]
    assert (img[:, 150:153] == GAP).all()
    first, second = img[:, :150] == TRACE, img[:, 153:] == TRACE
    assert first[:, 0].any() and first[:, -1].any()
    assert np.argmax(first[:, -1]) < np.argmax(first[:, 0])  # the rising activation climbs the image
    assert second[-3:].any(axis=0).all()  # silent feature: trace along the bottom


# ---------------------------------------------------------------- a mini study made by code


def make_mini_study(root: Path, n_clips: int = 24, d: int = 16, d_sae: int = 48, k: int = 6) -> dict:
    """Clips (two pitches x two loudness levels), frame activations that encode them, a TopK SAE."""
    from audiosae.sae.io import save_sae
    from audiosae.sae.model import TopKSAE

    rng = np.random.default_rng(0)
    sr, fr = 22050, 50
    data_root = root / "resources/datasets/mini"
    (data_root / "audio").mkdir(parents=True)
    rows, frames, offsets, means = [], [], [], []
    basis = rng.normal(size=(3, d))
    cursor = 0
    for i in range(n_clips):
        pitch, loud = ("high", "low")[i % 2], ("loud", "soft")[(i // 2) % 2]
        dur = 2.0 + 0.5 * (i % 3)
        t = np.arange(int(sr * dur)) / sr
        f0 = 880.0 if pitch == "high" else 220.0
        amp = 0.5 if loud == "loud" else 0.05
        audio = amp * np.sin(2 * np.pi * f0 * t) * np.minimum(1, t * 4)
        path = f"audio/c{i:02d}.wav"
        sf.write(data_root / path, audio.astype(np.float32), sr)
        n = int(dur * fr)
        env = np.exp(-0.5 * ((np.arange(n) - n * 0.6) / (n * 0.1)) ** 2)  # a burst at 60% of the clip
        x = rng.normal(scale=0.1, size=(n, d)) + np.outer(env, basis[0] * (1 if pitch == "high" else -1)) + (basis[1] if loud == "loud" else basis[2])
        frames.append(x.astype(np.float32))
        means.append(x.mean(0))
        offsets.append((cursor, cursor + n))
        cursor += n
        singer = f"s{i % 4}" if i % 6 != 5 else ""  # some clips have no singer (a blank cell, like non-speech clips' speaker)
        real = i % 2 == 0  # half the clips stand for registry recordings, with their provenance
        rows.append({"id": f"c{i:02d}", "path": path, "split": ("train", "train", "test")[i % 3], "singer": singer,
                     "pitch": pitch, "loudness": loud, "f0_hz": f0, "duration_s": dur,
                     "source_package": "npm tonejs-instrument-x-mp3@1.0.0" if real else "",
                     "licence": "CC-BY 3.0" if real else "", "attribution": "Sampled by N. N." if real else ""})
    clips = pd.DataFrame(rows)
    clips.to_csv(data_root / "clips.csv", index=False)
    act_path = root / "results/activations/mini/toy.h5"
    act_path.parent.mkdir(parents=True)
    with h5py.File(act_path, "w") as h5:
        h5.create_dataset("layers/1", data=np.concatenate(frames))
        h5.create_dataset("pooled/mean/1", data=np.stack(means).astype(np.float32))
        h5.create_dataset("clips/offsets", data=np.array(offsets))
        h5.create_dataset("clips/id", data=np.array(clips["id"], dtype=h5py.string_dtype()))
        h5.attrs.update({"frame_rate": fr, "sample_rate": 16000, "complete": True})
    torch.manual_seed(0)
    sae = TopKSAE(d, d_sae, k)
    with torch.no_grad():  # small random weights, and encoder rows along the directions that carry the labels
        W = torch.randn(d, d_sae) * 0.05
        W[:, :6] = torch.tensor(np.concatenate([basis, -basis]).T, dtype=torch.float32)
        sae.W_enc.copy_(W)
        sae.W_dec.copy_(W.T)
        sae.b_enc.zero_()
        sae.b_dec.zero_()
        W[:, -1] = 0.0  # the last feature reads nothing: a constant bias keeps it active, equally, on every clip
        sae.W_enc.copy_(W)
        sae.W_dec.copy_(W.T)
        sae.b_enc[-1] = 50.0
    sae_dir = root / "results/sae/mini/toy/layer1/topk-s0.875-seed0"
    save_sae(sae, sae_dir, {"dataset": "mini", "model": "toy", "layer": 1, "sparsity": 0.875, "seed": 0, "train_on": "clip_means"})
    (sae_dir / "metrics.json").write_text(json.dumps({"held_out": {"fvu": 0.2, "l0": 6.0, "dead_fraction": 0.1}}))
    return {"root": root, "data_root": data_root, "activations": act_path, "sae_dir": sae_dir, "clips": clips}


@pytest.fixture(scope="module")
def mini_browser(tmp_path_factory):
    root = tmp_path_factory.mktemp("mini_study")
    study = make_mini_study(root)
    eeg = pd.DataFrame({"layer": [1, 1, 2], "sparsity": [0.875, 0.875, 0.875], "feature": [0, 1, 0], "variable": ["Cz", "Cz", "Pz"], "value": [0.31, -0.2, 0.9]})
    eeg.to_csv(root / "eeg.csv", index=False)
    options = BrowserOptions(n_features=8, n_clips=3, snippet_s=1.5, audio_format="ogg", extra_tables={"eeg": str(root / "eeg.csv")})
    out = root / "results/browser/mini/toy/layer1/topk-s0.875-seed0"
    summary = build_sae_page(study["sae_dir"], study["activations"], study["data_root"] / "clips.csv", study["data_root"], out, ["pitch", "loudness"], options)
    build_index([out / "index.html"], root / "results/browser/index.html")
    return {**study, "out": out, "summary": summary, "index": root / "results/browser/index.html"}


def page_data(path: Path) -> dict:
    text = path.read_text()
    return json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', text, re.S).group(1).replace("<\\/", "</"))


def test_page_lists_every_feature_and_details_the_chosen(mini_browser):
    data = page_data(mini_browser["out"] / "index.html")
    s = mini_browser["summary"]
    assert s["n_features"] == 48 and s["n_detail"] == 8 and (s["layer"], s["sparsity"], s["k"]) == (1, 0.875, 6)
    assert len(data["rows"]) == 48 and [r["feature"] for r in data["rows"]] == list(range(48))
    assert sum(r["detail"] for r in data["rows"]) == 8 == len(data["details"])
    assert data["concepts"] == ["pitch", "loudness", "singer"]
    assert data["numeric"] == ["f0_hz", "duration_s"]
    # Feature 1 reads the loudness direction: its strongest concept is loudness, with a near-perfect AUROC.
    row = data["rows"][1]
    assert row["concept"].startswith("loudness=") and abs(row["auroc"] - 0.5) > 0.45
    assert "1" in data["details"]  # chosen by association
    d = data["details"]["1"]
    assert d["associations"][0]["concept"] == "loudness"
    assert d["probes"] and {p["target"] for p in d["probes"]} == {"pitch", "loudness"}
    assert d["extra"]["eeg"] == [{"variable": "Cz", "value": -0.2}]  # only this SAE's rows (layer 1)
    assert data["extra_available"] == ["eeg"] and "acoustics" in data["hooks"]


def test_page_shows_no_empty_labels_and_no_weak_concepts(mini_browser):
    data = page_data(mini_browser["out"] / "index.html")
    clips = mini_browser["clips"].set_index("id")
    blank = 0
    for d in data["details"].values():
        for c in d["clips"]:
            assert all(str(v).strip() for v in c["labels"].values()) and None not in c["numeric"].values()
            if clips.loc[c["clip"], "singer"] == "" or pd.isna(clips.loc[c["clip"], "singer"]):
                blank += 1
                assert "singer" not in c["labels"]  # the blank cell is left out, not shown as "singer="
            else:
                assert c["labels"]["singer"] == clips.loc[c["clip"], "singer"]
    assert blank > 0, "no detailed clip has a blank label: the test checks nothing"
    assert data["min_separation"] == interpret.MIN_SEPARATION
    live = [r for r in data["rows"] if r["density"]]
    for r in live:
        if "concept" in r:
            assert abs(r["auroc"] - 0.5) >= data["min_separation"] and r["strength"] >= data["min_separation"] - 1e-3
        else:  # no label value separates this feature's clips: nothing named, but its (weak) strength is kept for sorting
            assert "auroc" not in r and r["strength"] < data["min_separation"] + 1e-3
    assert any("concept" not in r for r in live) and any("concept" in r for r in live)
    assert [t["label"] for t in data["spec_axis"]["freq_ticks"]] == [t["label"] for t in frequency_ticks()]
    assert data["spec_axis"]["n_mels"] == N_MELS
    assert [c["key"] for c in data["columns"]][:5] == ["feature", "density", "concept", "auroc", "correlate"]


def test_snippets_are_cut_around_the_peak_and_play(mini_browser):
    data = page_data(mini_browser["out"] / "index.html")
    clips = mini_browser["clips"].set_index("id")
    for feature, d in data["details"].items():
        assert 1 <= len(d["clips"]) <= 3
        acts = [c["activation"] for c in d["clips"]]
        assert acts == sorted(acts, reverse=True) and acts[-1] > 0
        assert (mini_browser["out"] / d["spectrogram"]).stat().st_size > 200
        for c in d["clips"]:
            audio, sr = sf.read(mini_browser["out"] / c["audio"])
            assert sr == 16000
            assert abs(len(audio) / sr - min(1.5, clips.loc[c["clip"], "duration_s"])) < 0.03
            assert c["start_s"] <= c["peak_s"] < c["stop_s"]
            assert np.sqrt(np.mean(audio**2)) > 1e-3  # not silence
            assert not Path(c["audio"]).is_absolute() and c["audio"].startswith("audio/")


def test_real_recordings_carry_their_attribution(mini_browser):
    data = page_data(mini_browser["out"] / "index.html")
    credits = {c["clip"]: c["credit"] for d in data["details"].values() for c in d["clips"]}
    real = {c for c in credits if int(c[1:]) % 2 == 0}
    assert real and len(real) < len(credits)
    assert {credits[c] for c in real} == {"Sampled by N. N. · licence CC-BY 3.0 · from npm tonejs-instrument-x-mp3@1.0.0"}
    assert {credits[c] for c in credits if c not in real} == {""}


def test_index_links_every_page(mini_browser):
    data = page_data(mini_browser["index"])
    assert [r["href"] for r in data["rows"]] == ["mini/toy/layer1/topk-s0.875-seed0/index.html"]
    assert data["rows"][0]["fvu"] == 0.2
    html = mini_browser["index"].read_text()
    assert "http://" not in html and "https://" not in html  # nothing from the network


# ---------------------------------------------------------------- headless Chromium


def chromium_driver(tmp: Path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (dev extra) is not installed")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required",
                 "--window-size=1500,1000", f"--user-data-dir={tmp}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


WINDOW_WIDTH = 1280  # the page must fit a laptop screen without sideways scrolling

PAGE_LAYOUT_JS = """const l = document.querySelector('.list'), t = document.getElementById('features');
return {inner: window.innerWidth, page: document.documentElement.scrollWidth, list: l.clientWidth, listScroll: l.scrollWidth,
        table: t.getBoundingClientRect().width};"""

# Per rendered table row: is the "strongest concept" cell what the page data says, and empty where no label separates?
CONCEPT_CELLS_JS = """const data = JSON.parse(document.getElementById('data').textContent);
const byId = new Map(data.rows.map((r) => [String(r.feature), r]));
const col = data.columns.findIndex((c) => c.key === 'concept') + 1;
const bad = []; let empty = 0, named = 0;
for (const tr of document.querySelectorAll('#features tbody tr')) {
  const row = byId.get(tr.dataset.feature);
  const text = tr.querySelector('td:nth-child(' + col + ')').textContent;
  if (row.concept === undefined) { if (text !== '') bad.push([row.feature, text]); else if (row.density) empty++; }
  else if (text !== row.concept || Math.abs(row.auroc - 0.5) < data.min_separation - 1e-6) bad.push([row.feature, text]);
  else named++;
}
return {bad: bad.slice(0, 5), empty: empty, named: named};"""

SPECTROGRAM_AXES_JS = """const img = document.getElementById('spectrogram'), ir = img.getBoundingClientRect();
const box = (t) => { const r = t.getBoundingClientRect();
  return {text: t.textContent, x0: r.left, x1: r.right, y0: r.top, y1: r.bottom, font: parseFloat(getComputedStyle(t).fontSize),
          shown: r.width > 0 && getComputedStyle(t).visibility !== 'hidden'}; };
return {img: {x0: ir.left, x1: ir.right, y0: ir.top, y1: ir.bottom, h: img.clientHeight},
        freq: Array.from(document.querySelectorAll('#freq-axis .tick')).map(box),
        time: Array.from(document.querySelectorAll('#time-axis .tick')).map(box),
        titles: Array.from(document.querySelectorAll('#detail .axis-title')).map(box)};"""


def check_spectrogram_axes(axes: dict, n_clips: int, freq_labels: list[str]) -> None:
    """Frequency ticks (Hz) left of the image, at rising heights; time ticks (s) under it, under each snippet; all
    text at least 11 px, none overlapping; the image at least 2 px per mel band."""
    img = axes["img"]
    assert img["h"] >= 2 * N_MELS, f"spectrogram drawn {img['h']} px high for {N_MELS} mel bands"
    freq, time = axes["freq"], axes["time"]
    assert [t["text"] for t in freq] == freq_labels and len(freq) >= 4
    for a, b in zip(freq, freq[1:]):  # higher frequencies higher up, labels apart
        assert b["y1"] <= a["y0"], f"frequency labels {a['text']} and {b['text']} overlap or are out of order"
    for t in freq:
        assert t["shown"] and t["x1"] <= img["x0"] + 1 and img["y0"] - 2 <= (t["y0"] + t["y1"]) / 2 <= img["y1"] + 2, t
    assert len(time) >= n_clips, f"{len(time)} time ticks for {n_clips} snippets"
    time = sorted(time, key=lambda t: t["x0"])
    for a, b in zip(time, time[1:]):
        assert a["x1"] <= b["x0"], f"time labels {a['text']} and {b['text']} overlap"
    for t in time:
        assert t["shown"] and t["y0"] >= img["y1"] - 1 and img["x0"] <= (t["x0"] + t["x1"]) / 2 <= img["x1"], t
        float(t["text"])  # seconds
    assert all(t["font"] >= 11 for t in freq + time + axes["titles"]), "axis text below 11 px"
    assert {"Hz", "time in clip (s)"} <= {t["text"] for t in axes["titles"]}


def check_browser_in_chromium(index_html: Path, screenshot: Path, n_detail: int) -> dict:
    """Open the index from disk, follow the first SAE, open a feature, check its audio and the console; at a
    1280 px wide window the feature table fits (no sideways scrolling), the "strongest concept" cells are empty
    where no label separates the clips, no label chip is empty and the spectrogram has readable axes.

    Returns what it saw (for assertions specific to a study)."""
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver; .ci/run does it)")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    seen = {}
    with tempfile.TemporaryDirectory() as profile:
        driver = chromium_driver(Path(profile))
        try:
            driver.set_script_timeout(30)
            driver.set_window_size(WINDOW_WIDTH, 900)
            driver.get(index_html.resolve().as_uri())
            links = driver.find_elements(By.CSS_SELECTOR, "#saes a.sae-link")
            assert links, "the index lists no SAE"
            seen["n_saes"] = len(links)
            links[0].click()
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#features tbody tr"))
            seen["page"] = Path(unquote(urlparse(driver.current_url).path))
            rows = driver.find_elements(By.CSS_SELECTOR, "#features tbody tr")
            detail_rows = driver.find_elements(By.CSS_SELECTOR, "#features tbody tr.has-detail")
            seen["n_rows"] = len(rows)
            assert len(detail_rows) == n_detail
            # Search narrows the list; sorting by density puts the densest first.
            search = driver.find_element(By.ID, "search")
            search.send_keys("zzz-no-such-thing")
            assert driver.find_elements(By.CSS_SELECTOR, "#features tbody tr") == []
            search.clear()
            search.send_keys(" ")  # an input event with an empty query restores the list
            assert len(driver.find_elements(By.CSS_SELECTOR, "#features tbody tr")) == len(rows)
            layout = driver.execute_script(PAGE_LAYOUT_JS)
            assert layout["inner"] <= WINDOW_WIDTH
            assert layout["page"] <= layout["inner"], f"the page scrolls sideways at {layout['inner']} px: {layout}"
            assert layout["table"] <= layout["list"] + 1 and layout["listScroll"] <= layout["list"] + 1, f"the feature table overflows its column: {layout}"
            cells = driver.execute_script(CONCEPT_CELLS_JS)
            assert not cells["bad"], f"strongest-concept cells that disagree with the data or name a weak concept: {cells['bad']}"
            seen.update(layout=layout, n_named=cells["named"], n_without_concept=cells["empty"])
            driver.find_element(By.CSS_SELECTOR, "th[data-key=density]").click()
            dens = [float(t.text) for t in driver.find_elements(By.CSS_SELECTOR, "#features tbody tr td:nth-child(2)")[:5]]
            assert dens == sorted(dens, reverse=True)
            # Open the first feature that has clips.
            row = driver.find_element(By.CSS_SELECTOR, "#features tbody tr.has-detail")
            feature = row.get_attribute("data-feature")
            row.click()
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "feature-title"))
            assert driver.find_element(By.ID, "feature-title").text == f"Feature {feature}"
            assert driver.current_url.endswith(f"#f{feature}")
            audios = driver.find_elements(By.CSS_SELECTOR, "#detail audio")
            assert 1 <= len(audios) <= 5
            files = [Path(unquote(urlparse(a.get_attribute("src")).path)) for a in audios]
            for f in files:
                assert f.is_file(), f"audio element points to a missing file {f}"
                audio, sr = sf.read(f)
                assert sr == 16000 and len(audio) > 0.2 * sr and np.abs(audio).max() > 1e-3, f"{f} holds no audio"
            # Chromium itself decodes every snippet (duration known, no media error).
            durations = driver.execute_async_script(
                """const done = arguments[arguments.length - 1];
                const els = Array.from(document.querySelectorAll('#detail audio'));
                Promise.all(els.map(a => new Promise(res => {
                  if (a.readyState >= 1) return res(a.duration);
                  a.addEventListener('loadedmetadata', () => res(a.duration));
                  a.addEventListener('error', () => res(-1));
                  a.preload = 'auto'; a.load();
                }))).then(done);"""
            )
            assert all(d and d > 0.2 for d in durations), f"chromium could not decode the audio: {durations}"
            img_ok = driver.execute_script("const i = document.getElementById('spectrogram'); return i && i.complete && i.naturalWidth > 0;")
            assert img_ok, "the spectrogram image did not load"
            data = driver.execute_script("return JSON.parse(document.getElementById('data').textContent);")
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#time-axis .tick"))
            check_spectrogram_axes(driver.execute_script(SPECTROGRAM_AXES_JS), len(audios), [t["label"] for t in data["spec_axis"]["freq_ticks"]])
            pills = [p.get_attribute("textContent") for p in driver.find_elements(By.CSS_SELECTOR, "#detail .pill")]
            assert pills and all(re.fullmatch(r"[^=]+=\S.*", p) and not p.endswith("=nan") for p in pills), f"empty label chips: {pills}"
            summary = driver.find_element(By.ID, "feature-summary").text
            row_data = data["rows"][int(feature)]
            assert ("strongest concept" in summary) == ("concept" in row_data), summary
            seen.update(feature=int(feature), audio_files=files, durations=durations)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(screenshot))
            errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
            assert not errors, f"console errors: {errors}"
        finally:
            driver.quit()
    assert screenshot.stat().st_size > 10_000
    return seen


def test_mini_browser_in_chromium(mini_browser):
    seen = check_browser_in_chromium(mini_browser["index"], mini_browser["root"] / "results/browser/screenshot.png", n_detail=8)
    assert seen["n_saes"] == 1 and seen["n_rows"] == 48
    assert seen["n_without_concept"] >= 1 and seen["n_named"] >= 1  # the last feature separates nothing
    assert seen["page"] == (mini_browser["out"] / "index.html").resolve()
    assert all(f.parent == (mini_browser["out"] / "audio").resolve() for f in seen["audio_files"])


def test_mini_browser_details_in_chromium(mini_browser, tmp_path):
    """A feature no label separates names no concept (table cell and panel); a clip with a blank label shows no
    empty chip; the index shown inside another page (the Snakemake report's copy) says where the browser is
    instead of offering links that cannot work there."""
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("chromium and chromium-driver are not installed")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    data = page_data(mini_browser["out"] / "index.html")
    weak = [f for f in data["details"] if "concept" not in data["rows"][int(f)]]
    clips = mini_browser["clips"].set_index("id")
    blank = [f for f, d in data["details"].items() if any(clips.loc[c["clip"], "singer"] in ("", None) or pd.isna(clips.loc[c["clip"], "singer"]) for c in d["clips"])]
    assert weak and blank
    page = (mini_browser["out"] / "index.html").resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile:
        driver = chromium_driver(Path(profile))
        try:
            driver.set_window_size(WINDOW_WIDTH, 900)
            driver.get(f"{page}#f{weak[0]}")
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "feature-summary"))
            assert "strongest concept" not in driver.find_element(By.ID, "feature-summary").text
            col = [c["key"] for c in data["columns"]].index("concept") + 1
            cell = driver.find_element(By.CSS_SELECTOR, f"#features tr[data-feature='{weak[0]}'] td:nth-child({col})")
            assert cell.get_attribute("textContent") == ""
            driver.get(f"{page}#f{blank[0]}")
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "feature-title").text == f"Feature {blank[0]}")
            pills = [p.get_attribute("textContent") for p in driver.find_elements(By.CSS_SELECTOR, "#detail .pill")]
            n_blank = sum(1 for c in data["details"][blank[0]]["clips"] if "singer" not in c["labels"])
            assert n_blank >= 1 and "singer=" not in pills and not any(p.endswith("=") for p in pills)
            assert sum(p.startswith("singer=") for p in pills) == len(data["details"][blank[0]]["clips"]) - n_blank
            credits = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "#detail .credit")]
            n_real = sum(1 for c in data["details"][blank[0]]["clips"] if c["credit"])
            assert len(credits) == n_real and all(t.startswith("Recording: Sampled by N. N.") for t in credits)
            # The index inside a frame, as the report shows its copy: a notice, no links.
            frame = tmp_path / "framed.html"
            frame.write_text(f'<!DOCTYPE html><html><body><iframe id="f" src="{mini_browser["index"].resolve().as_uri()}" width="1200" height="500"></iframe></body></html>')
            driver.get(frame.as_uri())
            driver.switch_to.frame(driver.find_element(By.ID, "f"))
            WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#saes tbody tr"))
            assert "results/browser/index.html" in driver.find_element(By.ID, "embedded-notice").text
            assert driver.find_elements(By.CSS_SELECTOR, "a.sae-link") == []
        finally:
            driver.quit()
