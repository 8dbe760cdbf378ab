"""Stage timings from the pipeline's done markers, in stage order."""

from __future__ import annotations

from pathlib import Path

from syneg.pipeline.stages import STAGES
from syneg.report.markup import esc, note, table
from syneg.rundir import RunDir


def stage_timings(run: Path) -> str:
    """A table of each stage's seconds (with a bar of its share) and when it finished."""
    run_dir = RunDir(run)
    markers = {stage.name: run_dir.marker(stage.name) for stage in STAGES}
    seconds = {name: float(m["seconds"]) for name, m in markers.items()
               if m and isinstance(m.get("seconds"), (int, float))}
    if not seconds:
        return note("no stage timings: the run has no done markers with seconds")
    total = sum(seconds.values()) or 1.0
    rows = []
    for name, marker in markers.items():
        if name not in seconds:
            rows.append([esc(name), "<td>–</td>", "", esc("not run" if marker is None else "?")])
            continue
        share = seconds[name] / total
        bar = f"<span style='display:inline-block;height:10px;width:{share * 200:.0f}px;background:#0969da'></span>"
        rows.append([esc(name), f"<td class=num>{seconds[name]:.1f}</td>", f"{bar} {share:.0%}",
                     esc(marker.get("finished", ""))])
    rows.append(["<b>total</b>", f"<td class=num><b>{sum(seconds.values()):.1f}</b></td>", "", ""])
    return table(["stage", "seconds", "share", "finished"], rows)
