"""notebooks/compare_runs.ipynb, executed top to bottom on a tiny sweep of two real runs."""

import importlib.util

import pytest

from tests.conftest import ROOT, train_run

NOTEBOOK = ROOT / "notebooks" / "compare_runs.ipynb"


@pytest.mark.skipif(importlib.util.find_spec("nbclient") is None
                    or importlib.util.find_spec("ipykernel") is None,
                    reason="nbclient/ipykernel not installed: pip install -e '.[dev]'")
def test_compare_notebook_runs_on_a_sweep(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    sweep = tmp_path / "sweep"
    psnr = {}
    for latent in (4, 16):
        run = sweep / f"{latent // 4 - 1}_model.latent_dim={latent}"
        metrics = train_run(run, f"model.latent_dim={latent}", "logger=tensorboard",
                            "trainer.max_epochs=2")
        psnr[run.name] = metrics["test/psnr"]
    monkeypatch.setenv("AELAB_SWEEP_DIR", str(sweep))
    monkeypatch.setenv("AELAB_METRIC", "test/psnr")

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()

    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    # latent_dim plot + two learning curves (val/loss, val/psnr) + the reconstructions
    assert len(images) == 4
    best = max(psnr, key=psnr.get)
    assert any(best in out.get("data", {}).get("text/markdown", "") for out in outputs)
    assert (sweep / best / "generated" / "reconstruct.png").exists()
    assert (sweep / "summary.csv").read_text().count("\n") == 3  # header + two runs
