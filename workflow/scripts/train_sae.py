"""Train one planned SAE on one layer and save checkpoint and metrics (with Whisper's splice cost when planned)."""
from functools import partial
from pathlib import Path

from audiosae.runtime import resolve_device, setup
from audiosae.sae.downstream import speech_clips, whisper_splice_effect
from audiosae.sae.pipeline import train_layer_sae

w = snakemake.wildcards
opts = snakemake.params.options
log = setup(snakemake.threads, int(w.seed), snakemake.log[0])
device = resolve_device(snakemake.params.device)
downstream = None
if "model" in snakemake.input.keys():
    from audiosae.models.registry import load_activation_model

    reader = load_activation_model(w.model, snakemake.input.model, device=str(device), with_decoder=True)
    audios, texts = speech_clips(snakemake.input.clips, opts["downstream"]["max_clips"])
    downstream = partial(whisper_splice_effect, reader, layer=int(w.layer), audios=audios, texts=texts,
                         batch_size=opts["downstream"]["batch_size"], max_new_tokens=opts["downstream"]["max_new_tokens"])
train_layer_sae(
    snakemake.input.activations,
    snakemake.input.clips,
    Path(snakemake.output.cfg).parent,
    layer=int(w.layer),
    sparsity=float(w.sparsity),
    seed=int(w.seed),
    sae_cfg=opts,
    meta=snakemake.params.meta,
    device=device,
    variant=w.variant,
    downstream=downstream,
)
