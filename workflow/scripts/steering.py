"""Steer Whisper with SAE features: false speech detections on non-speech, WER on speech (paper B)."""
from audiosae.analysis.steering import steering_study
from audiosae.io import write_csv
from audiosae.models.registry import load_activation_model
from audiosae.runtime import resolve_device, setup
from audiosae.sae.io import load_sae

w = snakemake.wildcards
log = setup(snakemake.threads, snakemake.params.seed, snakemake.log[0])
cfg = snakemake.params.steering
device = resolve_device(snakemake.params.device)
reader = load_activation_model(w.model, snakemake.input.model, device=str(device), with_decoder=True)
saes = {int(layer): load_sae(d, device=str(device))[0] for layer, d in snakemake.params.sae_dirs.items()}
conditions = [(method, s) for method, strengths in cfg["conditions"].items() for s in strengths]
table, transcripts = steering_study(
    reader, snakemake.input.clips, saes, conditions, n_features=cfg["n_features"], max_speech=cfg["max_speech"],
    max_nonspeech=cfg["max_nonspeech"], batch_size=cfg["batch_size"], max_new_tokens=cfg["max_new_tokens"],
    progress=lambda row: log.info("%s %.3g: false detections %.3f, WER %.3f", row["method"], row["strength"],
                                  row["false_detection_rate"], row["wer"]),
)
for df in (table, transcripts):
    df.insert(0, "model", w.model)
    df.insert(0, "dataset", w.dataset)
write_csv(table, snakemake.output.table)
write_csv(transcripts, snakemake.output.transcripts)
