"""What the LLM commands (``synthesize``, ``generate-queries``) share: batch flags, request export, the verdict."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from syneg.cli import output
from syneg.errors import RunFailed, SynegError

if TYPE_CHECKING:
    from syneg.config import SynthesizeConfig
    from syneg.synthesis.cache import ResultCache
    from syneg.synthesis.task import TaskItem


def check_batch_flags(import_batch: Sequence[Path] | None, export_batch: Path | None, dry_run: bool = False) -> None:
    """``--import-batch`` is a separate step from ``--export-batch`` and ``--dry-run``."""
    if import_batch and (export_batch is not None or dry_run):
        other = "--export-batch" if export_batch is not None else "--dry-run"
        raise SynegError(f"--import-batch cannot be combined with {other}: export the requests, run the batch, "
                         "then import its results in a separate command")


def export_requests(command: str, items: Sequence[TaskItem], store: ResultCache, config: SynthesizeConfig,
                    path: Path) -> None:
    """Write the OpenAI batch requests of the items not yet cached to ``path`` and say so."""
    from syneg.synthesis import batch
    from syneg.synthesis.backends import get_backend
    from syneg.synthesis.backends.wire import server_for

    served = config.model or get_backend(config.backend).model_id_for(None).split(":", 1)[1]
    files = batch.export_batch(items, store, path, served, server=server_for(config.server, config.base_url))
    output.info(f"wrote {sum(files.values())} requests to {', '.join(map(str, files))}")
    output.summary(command, export_batch=list(files), requests=sum(files.values()))


def finish(report: tuple[list[str], RunFailed | None]) -> None:
    """Exit with the run's failure, or print its lines about failed items (a ``failure_report``)."""
    lines, failed = report
    if failed is not None:
        raise failed
    for line in lines:
        typer.echo(line, err=True)


def shown(stats: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The stats' ``keys`` for the summary line."""
    return {key: stats[key] for key in keys}
