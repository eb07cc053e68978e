"""The README's Results section is regenerated between its markers, never appended twice or hand-merged."""

from __future__ import annotations

import json

from analysis.readme import END, START, plateau_lines, splice, stage_times


def test_splice_replaces_only_the_marked_section():
    text = f"# title\n\nintro\n\n{START}\nold numbers\n{END}\n\n## after\n"
    out = splice(text, f"{START}\nnew numbers\n{END}")
    assert "new numbers" in out and "old numbers" not in out
    assert out.startswith("# title") and out.rstrip().endswith("## after")
    assert splice(out, f"{START}\nnewer\n{END}").count(START) == 1


def test_splice_appends_when_markers_are_absent():
    out = splice("# title\n", f"{START}\nx\n{END}")
    assert out.endswith(f"{START}\nx\n{END}\n")


def test_stage_times_reads_every_stage_meta(tmp_path):
    for rel, t in (("featnets", 10.0), ("train_ae/ae", 20.5), ("extract/ae/shapes", 99.0)):
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "meta.json").write_text(json.dumps({"wall_time_s": t}))
    assert stage_times(tmp_path) == [("extract/ae/shapes", 99.0), ("featnets", 10.0), ("train_ae/ae", 20.5)]


def test_plateau_table_lists_every_training_run(tmp_path):
    def verdict(plateaued, r, steps=100):
        return {"plateaued": plateaued, "relative_improvement": r, "tail_steps": steps // 5, "steps": steps,
                "threshold": 0.01, "smoothing": 0.99, "key": "loss"}  # fmt: skip

    records = {
        "autoencoders/ae": {"phase1": verdict(True, 0.004)},
        "autoencoders/vmae": {"phase1": verdict(False, 0.05), "phase3": verdict(None, None, steps=1)},
        "train_dit/ae/shapes": {"dit": verdict(True, -0.002)},
        "judges": {"judge-0": verdict(True, 0.0)},
        "extract/ae/shapes": None,  # not a training stage: never listed
    }
    for rel, plateau in records.items():
        folder = tmp_path / "records" / rel
        folder.mkdir(parents=True)
        (folder / "meta.json").write_text(json.dumps({"wall_time_s": 1.0} | ({"plateau": plateau} if plateau else {})))
    rows = [line for line in plateau_lines(tmp_path) if line.startswith("| ") and "stage" not in line]
    assert rows == [
        "| judges | – | judge-0 | yes | 0.00 % | 20 / 100 | 1.0 % |",
        "| train_ae | ae | phase1 | yes | 0.40 % | 20 / 100 | 1.0 % |",
        "| train_ae | vmae | phase1 | **no** | 5.00 % | 20 / 100 | 1.0 % |",
        "| train_ae | vmae | phase3 | too short to judge | – | 0 / 1 | 1.0 % |",
        "| train_dit | ae/shapes | dit | yes | -0.20 % | 20 / 100 | 1.0 % |",
    ]
    assert plateau_lines(tmp_path / "none") == []
