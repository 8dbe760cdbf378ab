"""Hub-ready dataset folders (parquet + card) and their upload."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from syneg import layout
from syneg.errors import RunFailed
from syneg.io import staged_dir
from syneg.mixing.exports.card import DataTerms, dataset_card, dataset_info
from syneg.mixing.exports.columns import Columns

DATA_FILE = "data/train-00000-of-00001.parquet"


def write_hub_folder(columns: Columns, info: Mapping[str, Any], provenance: Mapping[str, Any],
                     terms: DataTerms, out: Path) -> None:
    """``out/data/train-00000-of-00001.parquet`` and ``out/README.md``; the folder appears when complete."""
    from datasets import Dataset

    dataset = Dataset.from_dict(columns)
    with staged_dir(out) as folder:
        data = folder / DATA_FILE
        data.parent.mkdir()
        dataset.to_parquet(str(data))
        sizes = dataset_info(list(columns), dataset.num_rows, dataset.data.nbytes, data.stat().st_size)
        dataset_card(info, provenance, terms, sizes).save(folder / layout.CARD)


def push_folder(folder: Path, repo: str) -> str:
    """Create dataset repo ``repo`` (if needed) and upload ``folder``; returns the commit URL.

    Any failure (offline, unreachable endpoint, no token, bad repo id) becomes one RunFailed line (exit 3:
    the local folder is complete); the exception types differ between huggingface_hub's HTTP backends.
    """
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(repo, repo_type="dataset", exist_ok=True)
        commit = api.upload_folder(repo_id=repo, folder_path=folder, repo_type="dataset",
                                   commit_message="Upload syneg training set")
    except Exception as error:  # noqa: BLE001 - reported as one line, never a traceback
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise RunFailed(f"--push-to-hub {repo}: upload failed ({type(error).__name__}: {first})") from None
    return str(commit.commit_url)
