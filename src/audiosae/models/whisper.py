"""Layerwise activations of a Whisper encoder, real-audio frames only."""
from __future__ import annotations

import logging
import math
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from .base import BlockReader

# The encoder sees log-mel frames every 10 ms and halves them with a stride-2 conv: 20 ms per frame.
SAMPLES_PER_FRAME = 320
MAX_FRAMES = 1500
WINDOW_SAMPLES = MAX_FRAMES * SAMPLES_PER_FRAME  # 30 s at 16 kHz


@contextmanager
def _without_length_clash_warning():
    """Whisper's generate() passes its own max_length next to a caller's max_new_tokens, so transformers warns
    on every call that max_new_tokens takes precedence (which is what is wanted); drop that one message."""
    gen_logger = logging.getLogger("transformers.generation.utils")

    def keep(record: logging.LogRecord) -> bool:
        return "seem to have been set" not in record.getMessage()

    gen_logger.addFilter(keep)
    try:
        yield
    finally:
        gen_logger.removeFilter(keep)


def real_frame_count(n_samples: int) -> int:
    return min(MAX_FRAMES, math.ceil(n_samples / SAMPLES_PER_FRAME))


class WhisperEncoderActivations(BlockReader):
    """Runs the encoder once per batch and returns every layer's hidden states.

    Forward hooks give the output of each block before the final LayerNorm (transformers' last
    ``hidden_states`` entry is after it), and the input of block 0 as layer 0. Whisper pads every
    input to 30 s; only the frames of real audio are returned, and longer clips are cut into 30 s
    windows (exactly 1500 frames each) whose frames are joined again.
    """

    window_samples = WINDOW_SAMPLES
    pad_invariant = True  # every input is padded to 30 s anyway

    def __init__(self, spec, model_dir: str | Path, device: str = "cpu", with_decoder: bool = False, **_):
        from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperModel

        super().__init__(spec, device)
        cls = WhisperForConditionalGeneration if with_decoder else WhisperModel
        model = cls.from_pretrained(model_dir, dtype=torch.float32).to(self.device).eval()
        #: The full model when loaded ``with_decoder`` (for generate()), else the encoder-decoder trunk.
        self.model = model
        self.model_dir = Path(model_dir)
        self._tokenizer = None
        self.encoder = model.get_encoder()
        self.module = self.encoder
        self.blocks = self.encoder.layers
        cfg = self.encoder.config
        self.feature_extractor = WhisperFeatureExtractor(feature_size=cfg.num_mel_bins)
        self.layers = list(range(cfg.encoder_layers + 1))
        self.layer_dims = {L: cfg.d_model for L in self.layers}

    def features(self, audios: list[np.ndarray]) -> torch.Tensor:
        return self.feature_extractor(
            [np.asarray(a, dtype=np.float32) for a in audios], sampling_rate=self.sample_rate, return_tensors="pt"
        ).input_features.to(self.device)

    def bare_forward(self, audios: list[np.ndarray]) -> torch.Tensor:
        """The encoder alone, no hooks, nothing copied back (the benchmark's baseline)."""
        with torch.inference_mode(), self.autocast():
            return self.encoder(self.features(audios)).last_hidden_state

    def _forward(self, audios, layers):
        if any(len(a) > WINDOW_SAMPLES for a in audios):
            raise ValueError("clips longer than 30 s must be windowed before the Whisper encoder")
        features = self.features(audios)
        n_real = [real_frame_count(len(a)) for a in audios]
        keep = max(n_real)
        with self.capture(layers, keep=keep) as captured, self.autocast():
            self.encoder(features)
        # One device->host copy per layer, of the real frames only.
        host = [captured[L].float().cpu() for L in layers]
        return [[h[i, :n] for h in host] for i, n in enumerate(n_real)]

    def tokenizer(self):
        from transformers import WhisperTokenizer

        if self._tokenizer is None:
            self._tokenizer = WhisperTokenizer.from_pretrained(self.model_dir)
        return self._tokenizer

    def text_loss(self, audios: list[np.ndarray], texts: list[str]) -> np.ndarray:
        """Per clip, the decoder's mean cross-entropy (nats per token) of the reference text and its end token,
        teacher-forced after the task prefix (a splice in place applies)."""
        if not hasattr(self.model, "proj_out"):
            raise RuntimeError("text_loss() needs the decoder: load the reader with with_decoder=True")
        tok = self.tokenizer()
        prefix = len(tok("").input_ids) - 1  # <|startoftranscript|> ... <|notimestamps|>, without <|endoftext|>
        ids = [tok(" " + t.strip()).input_ids for t in texts]
        width = max(map(len, ids))
        pad = tok.eos_token_id
        inputs = torch.tensor([x[:-1] + [pad] * (width - len(x)) for x in ids], device=self.device)
        targets = torch.tensor([[-100] * (prefix - 1) + x[prefix:] + [-100] * (width - len(x)) for x in ids], device=self.device)
        with torch.inference_mode(), self.autocast():
            logits = self.model(self.features(audios), decoder_input_ids=inputs).logits.float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="none")
        return (nll.sum(1) / (targets != -100).sum(1)).cpu().numpy()

    def _check_decodable(self, audios: list[np.ndarray], caller: str) -> None:
        if not hasattr(self.model, "generate") or not hasattr(self.model, "proj_out"):
            raise RuntimeError(f"{caller}() needs the decoder: load the reader with with_decoder=True")
        if any(len(a) > WINDOW_SAMPLES for a in audios):
            raise ValueError(f"{caller}() takes clips of at most 30 s")

    def _no_speech_token(self) -> int:
        vocab = self.tokenizer().get_vocab()
        token = next((vocab[t] for t in ("<|nospeech|>", "<|nocaptions|>") if t in vocab), None)
        if token is None:
            raise ValueError(f"{self.model_dir}: the tokenizer has no <|nospeech|> or <|nocaptions|> token")
        return token

    def transcribe_and_detect(self, audios: list[np.ndarray], **generate_kwargs) -> tuple[list[str], np.ndarray]:
        """Greedy transcripts and Whisper's own speech detector, from one encoder pass (a splice in place applies).

        The detector is openai-whisper's ``no_speech_prob``: per clip, the probability of the no-speech token
        (``<|nospeech|>``; ``<|nocaptions|>`` in older and English-only vocabularies) at the first decoding step,
        right after ``<|startoftranscript|>``. openai-whisper drops a segment as silence when it exceeds 0.6 (and
        the transcript's mean log-probability is below -1); ``generate()`` alone never looks at it.
        """
        from transformers.modeling_outputs import BaseModelOutput

        self._check_decodable(audios, "transcribe_and_detect")
        token = self._no_speech_token()
        sot = torch.full((len(audios), 1), self.tokenizer().convert_tokens_to_ids("<|startoftranscript|>"), device=self.device)
        with torch.inference_mode(), self.autocast(), _without_length_clash_warning():
            encoded = BaseModelOutput(last_hidden_state=self.encoder(self.features(audios)).last_hidden_state)
            first = self.model(encoder_outputs=encoded, decoder_input_ids=sot).logits[:, 0].float()
            tokens = self.model.generate(encoder_outputs=encoded, **generate_kwargs)
        texts = self.tokenizer().batch_decode(tokens, skip_special_tokens=True)
        return texts, first.softmax(-1)[:, token].cpu().numpy()

    def transcribe(self, audios: list[np.ndarray], return_tokens: bool = False, **generate_kwargs):
        """Greedy transcripts of clips up to 30 s through ``generate()`` (a splice in place applies).

        Needs the reader built ``with_decoder=True`` from a folder with a tokenizer and a generation
        config (the offline converter and the hub preparation write both).
        """
        self._check_decodable(audios, "transcribe")
        with torch.inference_mode(), self.autocast(), _without_length_clash_warning():
            tokens = self.model.generate(self.features(audios), **generate_kwargs)
        if return_tokens:
            return list(tokens.cpu())
        return self.tokenizer().batch_decode(tokens, skip_special_tokens=True)
