"""Open every stored artefact of the study; fail naming each damaged one with the command that rebuilds it.
The report goes to the terminal (what the user asked for) and to the rule's log."""
from pathlib import Path

from audiosae.runtime import setup
from audiosae.verify import report, verify_study

p = snakemake.params
log = setup(snakemake.threads, 0)
found = verify_study(p.activations, p.saes, p.tables)
if found:
    message = report(found, p.options)
else:
    message = (f"all {len(p.activations) + len(p.saes) + len(p.tables)} artefacts are sound: {len(p.activations)} "
               f"activation stores, {len(p.saes)} SAE folders, {len(p.tables)} tables")
Path(snakemake.log[0]).parent.mkdir(parents=True, exist_ok=True)
Path(snakemake.log[0]).write_text(message + "\n")
if found:
    raise SystemExit(message)
log.info(message)
