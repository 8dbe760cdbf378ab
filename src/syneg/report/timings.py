"""Stage timings from the pipeline's done markers, in stage order."""

from __future__ import annotations

from syneg import layout
from syneg.pipeline.stages import STAGES
from syneg.report.markup import esc, note, shorten, table
from syneg.report.runfiles import RunFiles


def stage_timings(files: RunFiles) -> str:
    """A table of each stage's seconds (with a bar of its share) and when it finished."""
    markers = {stage.name: files.read_json(layout.marker_path(files.root, stage.name)) for stage in STAGES}
    markers = {name: m if isinstance(m, dict) else None for name, m in markers.items()}
    seconds = {name: float(m["seconds"]) for name, m in markers.items()
               if m and isinstance(m.get("seconds"), (int, float)) and 0 <= m["seconds"] < float("inf")}
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
                     esc(shorten(marker.get("finished", ""), 40))])
    rows.append(["<b>total</b>", f"<td class=num><b>{sum(seconds.values()):.1f}</b></td>", "", ""])
    return table(["stage", "seconds", "share", "finished"], rows)
