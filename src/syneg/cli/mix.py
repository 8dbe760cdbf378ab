"""``syneg mix``: combine mined and synthetic negatives into training instances."""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from syneg.cli import output
from syneg.cli.app import app
from syneg.cli.data_options import DataSelection, data_options
from syneg.cli.fields import Fields, settings
from syneg.cli.options import check_out, choice_enum
from syneg.config import MixConfig
from syneg.limits import MAX_EPOCH
from syneg.mixing import FORMATS

if TYPE_CHECKING:
    from syneg.mixing import ExportOptions, Mixing

Format = choice_enum("Format", FORMATS)


@app.command("mix")
@data_options(dev_fraction=False)
@settings(config=Fields(MixConfig, "mix", ("strategy", "ratio", "num_negatives"), {"num_negatives": ("--num-negatives", "-k")}))
def mix_command(
    *,
    mined: Annotated[Path, typer.Option("--mined", help="MinedInstance JSONL (syneg mine).")],
    out: Annotated[Path, typer.Option("--out", help="Output path (written atomically; a folder for "
                                                    "hf-dataset and tevatron-v2).")],
    synthetic: Annotated[Optional[Path], typer.Option("--synthetic",
                                                      help="SyntheticNegative JSONL (syneg synthesize).")] = None,
    config: MixConfig,
    selection: DataSelection,
    epoch: Annotated[int, typer.Option("--epoch", min=0, max=MAX_EPOCH, help="Epoch number: each epoch draws its own negatives.")] = 0,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = "syneg",
    query_prompt: Annotated[Optional[str], typer.Option(
        "--query-prompt", help="flagembedding: the query instruction written as each row's prompt.")] = None,
    group_positives: Annotated[bool, typer.Option(
        "--group-positives", help="flagembedding, tevatron*: one row per query with all its positives.")] = False,
    data_license: Annotated[Optional[str], typer.Option(
        "--license", help="hf-dataset: the data's license id; default: the embedded slice's, else unknown.")] = None,
    language: Annotated[str, typer.Option("--language", help="hf-dataset: language code of the data.")] = "en",
    push_to_hub: Annotated[Optional[str], typer.Option(
        "--push-to-hub", metavar="REPO", help="hf-dataset: upload the folder to this Hub dataset repo.")] = None,
) -> None:
    """Give every (query, positive) its K negatives; writes OUT and OUT's .stats.json."""
    from syneg.errors import SynegError
    from syneg.io import RecordFile
    from syneg.layout import read_stats, stats_path, write_stats
    from syneg.mixing import ExportOptions, Mixing, get_strategy
    from syneg.mixing.exporter import CORPUS_FORMATS, FOLDER_FORMATS, check_format_options
    from syneg.mixing.exports.card import DataTerms
    from syneg.mixing.exports.hub import push_folder
    from syneg.mixing.exports.provenance import attribute_summary
    from syneg.records import MinedInstance, SyntheticNegative

    fmt = fmt.value
    if fmt not in FOLDER_FORMATS:
        check_out(out)
    check_format_options(fmt, {"--query-prompt": query_prompt is not None, "--group-positives": group_positives,
                               "--license": data_license is not None, "--push-to-hub": push_to_hub is not None})
    chosen = get_strategy(config.strategy)
    if chosen.uses_synthetic and synthetic is None:
        raise SynegError(f"--strategy {config.strategy} needs --synthetic")
    corpus = selection.load() if chosen.needs_corpus or fmt in CORPUS_FORMATS else None
    synthetic_records = RecordFile(synthetic, SyntheticNegative) if synthetic is not None else []
    mixing = Mixing(RecordFile(mined, MinedInstance), synthetic_records, config.strategy, config.ratio,
                    config.num_negatives, selection.seed, corpus, epoch)
    provenance = {"mine": read_stats(mined), "synthesize": read_stats(synthetic),
                  "attributes": attribute_summary(synthetic_records)}
    written, stats = _export_mixed(mixing, out, fmt, lambda stats: ExportOptions(
        provenance={"mix": stats, **provenance}, terms=DataTerms.of(selection.data, data_license, language),
        corpus=corpus.corpus if corpus is not None else None, query_prompt=query_prompt,
        group_positives=group_positives))
    inputs = {"mined": _recorded(mined, out), "synthetic": _recorded(synthetic, out)}
    write_stats(out, {**stats, "export": written, "inputs": inputs, "attributes": provenance["attributes"]})
    output.info(f"wrote {written['rows']} instances ({fmt}) to {out}: {stats['by_source']}, "
                f"filled {stats['filled']}, short {stats['short']}")
    hub = push_folder(out, push_to_hub) if push_to_hub is not None else None
    if hub is not None:
        output.info(f"pushed {out} to the Hub: {hub}")
    if stats["empty"]:
        typer.echo(f"warning: {stats['empty']} instances had no negative and were left out "
                   f"(see {stats_path(out)}: empty_ids)", err=True)
    output.summary("mix", out=out, format=fmt, instances=written["rows"], by_source=stats["by_source"],
                   empty=stats["empty"], stats=stats_path(out), hub=hub)


def _recorded(path: Path | None, out: Path) -> str | None:
    """``path`` relative to the folder of OUT's statistics (no machine path in them; readers resolve it there)."""
    from syneg.layout import stats_path

    return None if path is None else os.path.relpath(path.resolve(), stats_path(out).parent.resolve())


def _export_mixed(mixing: Mixing, out: Path, fmt: str,
                  options: Callable[[dict], ExportOptions]) -> tuple[dict[str, Any], dict]:
    """Write the instances as they are drawn (syneg format), or all drawn first (the other formats read the
    mix statistics, or need every instance at once); returns what was written and the statistics."""
    from syneg.mixing import export

    if fmt == "syneg":
        written = export(mixing, out, fmt)
        return written, mixing.stats
    instances = list(mixing)
    return export(instances, out, fmt, options(mixing.stats)), mixing.stats
