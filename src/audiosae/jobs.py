"""What a study submits, before it is submitted: ``python -m audiosae.jobs --configfile config/paper.yaml``.

Runs Snakemake's dry-run (``-n``) in a scratch directory (or ``--directory``) and prints one row per rule: the
number of jobs, where they run (``local`` = on the submitting node, a localrule; ``gpu`` / ``cpu`` = the SLURM
partition the profile sends it to, with the GPUs it asks for), and the largest memory and runtime a job of the rule
requests (``audiosae.cluster`` sizes them from the model registry and the SAE; the profile's retries multiply them
by the attempt). Read it before ``--profile profiles/slurm``.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
_HEADER = re.compile(r"^(local)?rule (\w+):\s*$")
_RESOURCE = re.compile(r"(\w+)=([^,\s]+)")


def profile_placement(profile: str | Path) -> dict[str, dict]:
    """rule -> {partition, gpu, threads} from a Snakemake profile's set-resources / set-threads."""
    cfg = yaml.safe_load(Path(profile, "config.yaml").read_text()) if Path(profile).is_dir() else {}
    out: dict[str, dict] = defaultdict(dict)
    for rule, res in (cfg.get("set-resources") or {}).items():
        out[rule].update(res)
    for rule, threads in (cfg.get("set-threads") or {}).items():
        out[rule]["threads"] = threads
    return dict(out)


def local_rules(repo: str | Path = REPO) -> set[str]:
    """Rules marked ``localrule: True`` in the Snakefile and rules/*.smk (a dry-run prints every job as ``rule``)."""
    local = set()
    for path in [Path(repo) / "Snakefile", *sorted((Path(repo) / "rules").glob("*.smk"))]:
        blocks = re.split(r"^\s*rule (\w+):\s*$", path.read_text(), flags=re.M)
        for name, body in zip(blocks[1::2], blocks[2::2]):
            if re.search(r"^\s*localrule:\s*True", body, re.M):
                local.add(name)
    return local


def parse_dry_run(text: str) -> dict[str, dict]:
    """rule -> {jobs, local, mem_mb (max), runtime (max, minutes), runtime_total} from ``snakemake -n`` output."""
    rules: dict[str, dict] = {}
    current = None
    for line in text.splitlines():
        match = _HEADER.match(line.strip())
        if match:
            current = rules.setdefault(match.group(2), {"jobs": 0, "local": bool(match.group(1)), "mem_mb": 0,
                                                         "runtime": 0, "runtime_total": 0})
            current["jobs"] += 1
            continue
        if current is not None and line.strip().startswith("resources:"):
            res = dict(_RESOURCE.findall(line.split(":", 1)[1]))
            for key in ("mem_mb", "runtime"):
                try:
                    value = int(float(res.get(key, 0)))
                except ValueError:
                    continue
                current[key] = max(current[key], value)
                if key == "runtime":
                    current["runtime_total"] += value
            current = None
    return rules


def summary(rules: dict[str, dict], placement: dict[str, dict], local: set[str] = frozenset()) -> str:
    rows = [("rule", "jobs", "where", "max mem (GB)", "max runtime (h)", "sum runtime (h)")]
    for name, r in sorted(rules.items(), key=lambda kv: (-kv[1]["jobs"], kv[0])):
        place = placement.get(name, {})
        if r["local"] or name in local:
            where = "local"
        elif place.get("gpu"):
            where = f"gpu x{place['gpu']}"
        else:
            where = "cpu"
        rows.append((name, str(r["jobs"]), where, f"{r['mem_mb'] / 1000:.1f}", f"{r['runtime'] / 60:.1f}",
                     f"{r['runtime_total'] / 60:.1f}"))
    total = sum(r["jobs"] for r in rules.values())
    gpu_h = sum(r["runtime_total"] for n, r in rules.items() if n not in local and placement.get(n, {}).get("gpu")) / 60
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 or i == 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"{total} jobs; GPU time requested (the runtime limits, an upper bound): {gpu_h:.0f} GPU-hours")
    return "\n".join(lines)


def gpu_hours(config: dict) -> list[tuple[str, str, int, float]]:
    """(job, model, count, estimated GPU-hours) of the study's GPU jobs, from audiosae.cluster's estimates: extraction
    from each dataset's hours of audio and the model's size, SAE training from its size and steps."""
    from .cluster import activation_gb, extraction_hours, extraction_mem_mb, model_weights_mb, sae_hours, sae_mem_mb
    from .data.kinds import get_kind  # noqa: F401  (kinds register the datasets' names)
    from .models.registry import get_model_spec
    from .plan import study_datasets, sae_plan

    plan = sae_plan(config)
    datasets = study_datasets(config)
    rows: dict[tuple[str, str], list] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    for act in sorted({s.activations for s in plan} | {f"results/activations/{d}/{m}.h5" for d in config["datasets"]
                                                        for m in _models(config, d)}):
        dataset, model = act.split("/")[-2], act.split("/")[-1][:-3]
        row = rows[("extract_activations", model)]
        row[0] += 1
        row[1] += extraction_hours(model, datasets[dataset]["kind"])
        row[2] += activation_gb(model, datasets[dataset]["kind"])
        # GPU memory: the weights and one batch of every layer's frames (the host-side estimate less the runtime)
        row[3] = max(row[3], (extraction_mem_mb(model, config["activations"]["batch_size"]) - 3000) / 1000)
    for sae in plan:
        d_in = get_model_spec(sae.model).dim(sae.layer)
        d_sae = sae.options["d_sae"] or int(sae.options["expansion"] * d_in)
        steps = sae.options["steps"] if not sae.options.get("epochs") else sae.options["epochs"] * 200
        row = rows[(f"train_sae ({sae.sweep}, {sae.variant})", sae.model)]
        row[0] += 1
        row[1] += sae_hours(d_in, d_sae, steps, sae.options["batch_size"]) + (0.25 if sae.downstream else 0.0)
        # GPU memory: weights, gradients, Adam's moments and a batch of pre-activations (the host estimate less the
        # runtime and the row buffer), plus the Whisper model for the splice cost
        gpu = (sae_mem_mb(d_in, d_sae, sae.options["batch_size"], 0) - 2500) / 1000
        row[3] = max(row[3], gpu + (model_weights_mb(sae.model) / 1000 if sae.downstream else 0.0))
    return [(job, model, n, h, gb, mem) for (job, model), (n, h, gb, mem) in sorted(rows.items())]


def _models(config, dataset):
    from .config import dataset_models

    return dataset_models(config, dataset)


def gpu_hours_markdown(config: dict) -> str:
    rows = gpu_hours(config)
    lines = ["| job | model | jobs | GPU-hours (estimate) | GPU memory per job (GB, estimate) | activations written (GB, fp16) |",
             "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {job} | {model} | {n} | {h:.1f} | {max(mem, 0.5):.1f} | {f'{gb:.0f}' if gb else ''} |"
              for job, model, n, h, gb, mem in rows]
    lines.append(f"| **all GPU jobs** | | **{sum(r[2] for r in rows)}** | **{sum(r[3] for r in rows):.0f}** | | "
                 f"**{sum(r[4] for r in rows):.0f}** |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", nargs="+", default=[str(REPO / "config" / "paper.yaml")])
    ap.add_argument("--profile", default=str(REPO / "profiles" / "slurm"))
    ap.add_argument("--directory", default=None, help="working directory (default: an empty scratch one)")
    ap.add_argument("--gpu-hours", action="store_true", help="print the GPU-hour estimate table (markdown) instead")
    ap.add_argument("targets", nargs="*")
    args = ap.parse_args(argv)
    if args.gpu_hours:
        from .config import check_config, load_schema, validate_config
        from snakemake.utils import update_config

        config: dict = {}
        for path in args.configfile:
            update_config(config, yaml.safe_load(Path(path).read_text()))
        schema = REPO / "config" / "schema.yaml"
        validate_config(config, schema)
        check_config(config, sae_schema=load_schema(schema)["properties"]["sae"])
        print(gpu_hours_markdown(config))
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", *args.configfile,
               "--directory", args.directory or scratch, "-s", str(REPO / "Snakefile"), *args.targets]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        return proc.returncode
    print(summary(parse_dry_run(proc.stdout + proc.stderr), profile_placement(args.profile), local_rules()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
