import logging
import os
import sys

import numpy as np
import pytest
import torch

from audiosae.runtime import resolve_device, setup


@pytest.fixture
def restore_logging():
    root, stderr, threads = logging.getLogger(), sys.stderr, torch.get_num_threads()
    handlers, level = root.handlers[:], root.level
    omp = os.environ.get("OMP_NUM_THREADS")
    yield
    if omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = omp
    if sys.stderr is not stderr:
        sys.stderr.close()
    sys.stderr = stderr
    root.handlers[:], root.level = handlers, level
    torch.set_num_threads(threads)


def test_setup_logs_the_job_not_the_font_subsetter(tmp_path, restore_logging):
    log = setup(threads=1, seed=3, log_path=tmp_path / "logs" / "job.log")
    log.info("trained layer 2")
    logging.getLogger("fontTools.subset").info("maxp pruned")
    logging.getLogger("fontTools.subset").warning("glyph missing")
    print("to stderr", file=sys.stderr)
    text = (tmp_path / "logs" / "job.log").read_text()
    assert "INFO audiosae: trained layer 2" in text
    assert "maxp pruned" not in text and "WARNING fontTools.subset: glyph missing" in text
    assert "to stderr" in text
    assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1"
    assert np.random.rand() == np.random.RandomState(3).rand()  # seeded


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(RuntimeError, match="'cuda:0' requested but CUDA is not available"):
            resolve_device("cuda:0")


def test_setup_leaves_torch_unimported_for_jobs_without_tensors(tmp_path):
    """Figure and table jobs skip torch's import; a job that imports it after setup still gets its thread count."""
    import subprocess

    code = ("import sys; from audiosae.runtime import setup; setup(1, None, None); "
            "assert 'torch' not in sys.modules, 'torch imported'; import torch; print(torch.get_num_threads())")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"
