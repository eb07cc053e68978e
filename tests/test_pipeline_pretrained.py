"""Pretrained items through the real pipeline: the DVC CLI in a scratch project at the tiny scale, with one item of
each format and no trained item (as the paper-imagenet-pretrained preset: only the DiTs train). Each item gets rows
in Tables 1 and 3 and a point in the compression figure; replacing one item's weights re-runs that item's chain
alone; a bad entry stops its own import and touches nothing else; adding an item leaves the others up to date.

Run: .venv/bin/python -m pytest tests/test_pipeline_pretrained.py -q   (a few minutes: marked slow)
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from analysis.fig_compression import make_fig_compression
from analysis.style import label
from analysis.table_format import RUN
from tests.pretrained_items import make_items, save_diffusers
from tests.test_pipeline import (
    CHAIN,
    check_adding_an_item_leaves_the_others_up_to_date,
    dvc,
    edit,
    only_its_chain_or_reports,
    scratch_project,
    stale_stages,
)

pytestmark = pytest.mark.slow
RES = 32  # the tiny preset's data.resolution
READS_TIMES = ("table_efficiency", "paper_check")  # depend on runs/records/autoencoders (tests/test_architecture.py)


def test_pretrained_items_through_the_pipeline(tmp_path):
    project = scratch_project(tmp_path, shrink=False)
    entries = make_items(project / "weights", RES, base=project)
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["autoencoders"].update(names=list(entries), variants={}, pretrained=entries)
    raw["diffusion"].update(items={k: ["shapes"] for k in entries}, datasets={"shapes": "conditional"})
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))

    dvc(project, "repro")
    assert stale_stages(project) == set()
    stages = dvc(project, "stage", "list", "--name-only").split()
    assert not [s for s in stages if s.startswith("train_ae")]  # pretrained items skip training
    assert {f"{stage}@{name}" for stage in CHAIN for name in entries} <= set(stages)
    check_rows(project, list(entries))

    check_replacing_weights_reruns_only_that_item(project)
    check_a_bad_entry_stops_only_its_item(project)
    folder = save_diffusers(project / "weights" / "flux-vae", "flux")
    entry = {"format": "diffusers", "path": str(folder.relative_to(project)), "entry": None}
    check_adding_an_item_leaves_the_others_up_to_date(project, "flux-vae", entry)


def check_rows(project, items: list[str]) -> None:
    """Every item has this run's values in Table 1 (each set) and Table 3, and a point in the compression figure."""
    tables = project / "results" / "tables"
    for name, sets in (("table1_recon", ("shapes", "faces")), ("table3_generation", ("shapes",))):
        cells = pd.read_csv(tables / f"{name}.csv")
        cells = cells[(cells["source"] == RUN) & cells["value"].notna()]
        for item in items:
            for dataset in sets:
                where = cells["dataset"].str.startswith(dataset) & (cells["model"] == label(item))
                assert where.any(), f"{name}: no values for {item} on {dataset}"
    sets = yaml.safe_load((project / "params.yaml").read_text())["analysis"]["compress"]["sets"]
    fig = make_fig_compression(project / "runs", items, sets)
    assert {label(i) for i in items} <= {t.get_text() for t in fig.legends[0].get_texts()}


def check_replacing_weights_reruns_only_that_item(project) -> None:
    """New weights at the same path: import_ae of that item is stale; once it re-imports (new hashes in its record),
    the item's own stages follow, and nothing of any other item (the two report stages that print the makers' wall
    times re-run too: they read the volatile records)."""
    save_diffusers(project / "weights" / "sd1-vae", "sd1", seed=1)
    assert stale_stages(project) == {"import_ae@sd1-vae"}
    dvc(project, "repro", "import_ae@sd1-vae")
    stale = stale_stages(project)
    assert {f"{s}@sd1-vae" for s in ("eval_ae", "compress", "extract", "sample")} <= stale, stale
    assert all(s.endswith("@sd1-vae") or s in READS_TIMES for s in stale), stale
    dvc(project, "repro")
    assert stale_stages(project) == set()


def check_a_bad_entry_stops_only_its_item(project) -> None:
    """An entry that cannot be imported fails import_ae of its item, with the message, and changes no stage of any
    other item. The report stages go stale too: they declare `autoencoders.pretrained` (they read which items are
    pretrained) and DVC tracks a params dict as a whole; re-run, they give the same files. DVC removes a stage's
    outputs before running it, so after the failure the item's own chain is stale as well, and nothing else is; the
    fixed entry re-imports the same model and the chain is up to date again."""
    edit(project, "autoencoders.pretrained.my-ae.entry", "tiny_user_ae:missing")
    stale = stale_stages(project)
    assert "import_ae@my-ae" in stale and only_its_chain_or_reports(stale, "my-ae"), stale
    out = dvc(project, "repro", ok=False)
    assert "pretrained item 'my-ae'" in out and "tiny_user_ae.py' has no function 'missing'" in out, out
    after = stale_stages(project)
    assert "import_ae@my-ae" in after and only_its_chain_or_reports(after, "my-ae"), after
    edit(project, "autoencoders.pretrained.my-ae.entry", "tiny_user_ae:build")
    dvc(project, "repro")
    assert stale_stages(project) == set()
