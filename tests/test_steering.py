"""Steering helpers on known answers: text normalisation, false detections, WER, speech features, code edits."""
import numpy as np
import pytest
import torch

from audiosae.analysis.steering import (
    difference_shift,
    scale_features,
    speech_features,
)
from audiosae.models.asr import false_detection_rate, normalise_text, word_error_rate


def test_normalised_text_and_false_detections():
    assert normalise_text("  Hello, World!  ") == "hello world"
    assert normalise_text(" ... ♪ ") == "" and normalise_text("[ ]") == ""
    assert normalise_text("It's") == "its"
    assert false_detection_rate(["", " . ", "you", "♪♪"]) == pytest.approx(0.25)


def test_word_error_rate_of_normalised_texts():
    assert word_error_rate(["The cat sat."], ["the cat sat"]) == 0.0
    assert word_error_rate(["a b c d"], ["a x c"]) == pytest.approx(0.5)  # one substitution, one deletion


def test_speech_features_are_the_planted_ones():
    rng = np.random.default_rng(0)
    speech = rng.exponential(1.0, (300, 50)) * (rng.random((300, 50)) < 0.2)
    nonspeech = rng.exponential(1.0, (300, 50)) * (rng.random((300, 50)) < 0.2)
    speech[:, [7, 21, 33]] += 3.0
    for ranking in ("auroc", "mean_diff"):
        assert set(speech_features(speech, nonspeech, 3, ranking)) == {7, 21, 33}


def test_speech_feature_ties_break_by_mean_difference():
    """Features 0-2 fire only on speech, equally often (AUROC ties at 0.75), with means 1, 3 and 2."""
    speech, nonspeech = np.zeros((4, 5)), np.zeros((4, 5))
    speech[:2, :3] = [1.0, 3.0, 2.0]
    assert list(speech_features(speech, nonspeech, 4, "auroc")) == [1, 2, 0, 3]  # then 3 before 4: index order


def test_no_speech_gate_empties_confident_silence():
    from audiosae.models.asr import gate

    assert gate(["you", "hello there", "you"], np.array([0.9, 0.9, 0.2])) == ["", "", "you"]
    assert gate(["you"], np.array([0.9]), threshold=0.95) == ["you"]


def test_code_edits():
    codes = torch.ones(4, 6)
    out = scale_features(np.array([1, 4]), 0.0)(codes.clone())
    assert out[:, [1, 4]].abs().sum() == 0 and out[:, [0, 2, 3, 5]].eq(1).all()
    assert torch.allclose(scale_features(np.array([2]), 1.0)(codes.clone()), codes)  # strength 0: identity
    x = torch.zeros(3, 2)
    assert torch.allclose(difference_shift(np.array([1.0, -2.0]), 0.5)(x), torch.tensor([[-0.5, 1.0]] * 3))


def test_steering_clips_take_every_sound_class_round_robin():
    import pandas as pd

    from audiosae.analysis.steering import steering_clips

    clips = pd.DataFrame({
        "id": [f"c{i}" for i in range(9)], "split": ["test"] * 8 + ["train"],
        "transcript": ["hello there", "a b", "", "", "", "", "", "", "x"],
        "sound_class": ["speech", "speech", "tone", "tone", "tone", "rain", "rain", "laughter", "speech"],
    })
    speech, other = steering_clips(clips, "test", max_speech=1, max_nonspeech=4)
    assert speech["id"].tolist() == ["c0"]
    assert other["sound_class"].tolist() == ["laughter", "rain", "tone", "rain"]  # one of each class first


def test_steering_clips_with_a_speech_column_count_untranscribed_speech_as_speech():
    """Real corpora: a meeting extract or a word in another language has no reference text but is speech; it may
    choose features, never score WER, and is never counted as non-speech."""
    import pandas as pd

    from audiosae.analysis.steering import steering_clips

    clips = pd.DataFrame({
        "id": ["en1", "en2", "ami1", "fr1", "dog", "moh"], "split": ["test"] * 6,
        "speech": ["speech"] * 4 + ["nonspeech"] * 2, "transcript": ["press one", "goodbye", "", "", "", ""],
        "source": ["asterisk_en", "asterisk_en", "ami", "klettres", "ovos_animals", "moh"],
        "sound_class": ["speech"] * 4 + ["animal", "music"]})
    wer, other = steering_clips(clips, "test", max_speech=10, max_nonspeech=10)
    assert wer["id"].tolist() == ["en1", "en2"] and other["id"].tolist() == ["dog", "moh"]
    chosen, _ = steering_clips(clips, "test", max_speech=3, max_nonspeech=10, with_text=False)
    assert chosen["id"].tolist() == ["ami1", "en1", "fr1"]  # one per source first


@pytest.fixture(scope="module")
def whisper_with_decoder(real_whisper_tiny_en_dir):
    from audiosae.models.registry import load_activation_model

    torch.manual_seed(0)
    return load_activation_model("whisper_tiny_en", real_whisper_tiny_en_dir, with_decoder=True)


@pytest.fixture(scope="module")
def spoken_and_noise():
    """Two eSpeak sentences and two non-speech clips at 16 kHz, with the sentences' text."""
    from audiosae.data import nonspeech, speech
    from audiosae.data.audio import resample

    texts = ["The birch canoe slid on the smooth planks.", "Rice is often served in round bowls."]
    voice = speech.speaker_from_name("m1")
    spoken = []
    for text in texts:
        audio, rate = speech.speak(text, voice)
        spoken.append(resample(audio.astype(np.float32), rate, 16000).astype(np.float32))
    rng = np.random.default_rng(0)
    noise = [0.05 * nonspeech.render(c, 1.5, 16000, rng)[0].astype(np.float32) for c in ("pink_noise", "tone")]
    return spoken, texts, noise


def test_steering_experiment_on_real_whisper(whisper_with_decoder, spoken_and_noise, one_torch_thread):
    from audiosae.analysis.steering import steering_experiment
    from audiosae.sae.model import build_sae

    spoken, texts, noise = spoken_and_noise
    torch.manual_seed(0)
    sae = build_sae("topk", 384, 768, 0.95).eval()
    table, transcripts = steering_experiment(whisper_with_decoder, sae, 2, spoken, texts, noise,
                                             [("diff", 0.0), ("diff", 50.0), ("ablate_speech", 1.0)], n_features=4,
                                             max_new_tokens=24)
    # Strength 0 is the baseline, measured once; the other conditions follow it.
    assert table["method"].tolist() == ["none", "diff", "ablate_speech"]
    base = table.iloc[0]
    assert base["wer"] < 0.8 and base["n_speech"] == 2 and base["n_nonspeech"] == 2  # tiny.en reads eSpeak well
    assert 0.0 <= base["false_detection_rate"] <= 1.0
    # A shift 50 times the speech - non-speech difference silences Whisper: no words on speech nor on noise.
    assert table.iloc[1]["wer"] == 1.0 and table.iloc[1]["false_detection_rate"] == 0.0
    assert len(table["speech_features"].iloc[0].split()) == 4 and len(table["nonspeech_features"].iloc[0].split()) == 4
    assert len(transcripts) == 3 * 4 and set(transcripts["kind"]) == {"speech", "nonspeech"}
    # Whisper's own detector: the no-speech token is likely on noise and a tone, unlikely on eSpeak speech.
    assert base["no_speech_prob_nonspeech"] > 0.5 > 0.3 > base["no_speech_prob_speech"]
    clean = transcripts[transcripts["method"] == "none"]
    assert clean["no_speech_prob"].between(0, 1).all()
    assert base["no_speech_prob_nonspeech"] == pytest.approx(clean[clean["kind"] == "nonspeech"]["no_speech_prob"].mean())
    # The gate only ever removes transcripts: fewer false detections, never a lower WER.
    assert (table["gated_false_detection_rate"] <= table["false_detection_rate"]).all() and (table["gated_wer"] >= table["wer"]).all()
    with pytest.raises(ValueError, match="unknown steering method 'boost'"):
        steering_experiment(whisper_with_decoder, sae, 2, spoken, texts, noise, [("boost", 1.0)])


def test_splice_effect_of_a_perfect_and_a_random_sae(whisper_with_decoder, spoken_and_noise, one_torch_thread):
    from audiosae.sae.downstream import whisper_splice_effect

    spoken, texts, _ = spoken_and_noise
    reader = whisper_with_decoder
    matched = reader.text_loss(spoken, texts)
    swapped = reader.text_loss(spoken, texts[::-1])
    assert matched.shape == (2,) and (matched < 2.0).all() and (swapped > matched + 2.0).all()

    class Scaled(torch.nn.Module):  # reconstructs x as gain * x (gain 1: a perfect SAE)
        def __init__(self, gain):
            super().__init__()
            self.gain = torch.nn.Parameter(torch.tensor(gain))

        def forward(self, x):
            return self.gain * x

    perfect = whisper_splice_effect(reader, Scaled(1.0), 2, spoken, texts, max_new_tokens=24)
    assert perfect["ce_sae"] == pytest.approx(perfect["ce_clean"], abs=1e-4) and perfect["wer_delta"] == 0.0
    assert perfect["ce_recovered"] == pytest.approx(1.0, abs=1e-3) and perfect["ce_mean_ablated"] > perfect["ce_clean"] + 1.0
    shrunk = whisper_splice_effect(reader, Scaled(0.6), 2, spoken, texts, max_new_tokens=24)
    assert shrunk["ce_sae"] > shrunk["ce_clean"] + 0.2 and 0.0 < shrunk["ce_recovered"] < 0.95
    assert shrunk["ce_clean"] == pytest.approx(perfect["ce_clean"]) and shrunk["n_clips"] == 2
