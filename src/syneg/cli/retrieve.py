"""``syneg retrieve``: BM25 or dense retrieval of a split's queries into a TREC run file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from syneg.cli import output
from syneg.cli.app import app
from syneg.cli.data_options import DataSelection, data_options
from syneg.cli.fields import Fields, settings
from syneg.cli.options import DeviceOpt, OutOpt
from syneg.config import EncodeConfig, MineConfig
from syneg.limits import MAX_BATCH_SIZE


@app.command()
@data_options()
@settings(take_set=False, config=Fields(MineConfig, "mine", ("retriever", "model", "top_k", "max_seq_length")),
          encode=Fields(EncodeConfig, "encode", ("backend",), {"backend": "--encode-backend"}))
def retrieve(
    out: OutOpt,
    selection: DataSelection,
    config: MineConfig,
    encode: EncodeConfig,
    batch_size: Annotated[Optional[int], typer.Option(
        "--batch-size", min=1, max=MAX_BATCH_SIZE, help="Dense: encoding batch size; default 64 on CPU, 256 on CUDA.")] = None,
    cache_dir: Annotated[
        Optional[Path],
        typer.Option(
            "--cache-dir", help="Dense: embedding cache; default $SYNEG_CACHE_DIR or ~/.cache/syneg/embeddings."
        ),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Dense: neither read nor write cached document embeddings.")
    ] = False,
    use_faiss: Annotated[
        bool, typer.Option("--faiss", help="Dense: search with a faiss flat index (needs syneg\\[faiss]).")
    ] = False,
    tag: Annotated[str, typer.Option("--tag", help="Run tag (last column); default syneg-<retriever>.")] = "",
    device: DeviceOpt = "auto",
) -> None:
    """Retrieve the top-k documents for each query of a split and write a TREC run file."""
    from syneg.errors import SynegError
    from syneg.evaluation.runfile import check_tag, write_run
    from syneg.hardware import encode_batch_size, resolve_device
    from syneg.retrieval import make_retriever

    retriever, model, top_k, max_seq_length = config.retriever, config.model, config.top_k, config.max_seq_length
    if retriever != "dense" and (model or max_seq_length or use_faiss):
        raise SynegError("--model, --max-seq-length and --faiss apply to --retriever dense only")
    tag = check_tag(tag or f"syneg-{retriever}")
    device = resolve_device(device)
    dataset = selection.load()
    searcher = make_retriever(
        retriever,
        model,
        cache_dir=cache_dir,
        batch_size=batch_size or encode_batch_size(device),
        max_seq_length=max_seq_length,
        backend=encode.backend,
        use_cache=not no_cache,
        use_faiss=use_faiss,
        show_progress=True,
        device=device,
    )
    searcher.index(dataset.corpus)
    query_ids = list(dataset.queries)
    result = searcher.search([dataset.queries[q] for q in query_ids], top_k)
    lines = write_run(out, query_ids, result, tag=tag)
    output.info(f"wrote {lines} lines ({len(query_ids)} queries, top {top_k}) to {out}")
    output.summary("retrieve", out=out, retriever=retriever, queries=len(query_ids), top_k=top_k, lines=lines,
                   device=device if retriever == "dense" else "cpu")
