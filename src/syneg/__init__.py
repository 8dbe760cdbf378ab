"""syneg: train dense retrievers on mined and LLM-synthesized hard negatives."""

from syneg.errors import DataError, SynegError

__version__ = "0.1.0"
__all__ = ["DataError", "SynegError", "__version__"]
