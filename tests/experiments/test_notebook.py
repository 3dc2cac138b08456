"""experiments/notebooks/quickstart.ipynb runs from top to bottom (a tiny random model, outputs in a temp folder)."""
import os
import time

import nbformat
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOK = os.path.join(ROOT, "experiments", "notebooks", "quickstart.ipynb")


def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "")  # the kernel gets one CPU device, not the suite's eight fake ones
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("TEMPR1_QUICKSTART_DIR", str(tmp_path))
    monkeypatch.setenv("TEMPR1_MAX_NEW_TOKENS", "8")  # a random model never stops by itself
    monkeypatch.delenv("TEMPR1_CHECKPOINT", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}}).execute()
    assert time.perf_counter() - start < 120
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 6  # five timelines and the paper table's chart
    assert os.path.isfile(tmp_path / "benchmark" / "tiny_random" / "charades_sta" / "metrics.json")
    assert os.path.getsize(tmp_path / "paper_table.png") > 10_000
