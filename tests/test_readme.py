"""The README's Results section is regenerated between its markers, never appended twice or hand-merged."""

from __future__ import annotations

import json

from analysis.readme import END, START, splice, stage_times


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
