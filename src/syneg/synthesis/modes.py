"""The synthesis modes (a leaf module: the config and the records read the names).

| mode       | the model writes                                                              |
|------------|-------------------------------------------------------------------------------|
| free       | a passage from the query (and, with ``show_positive``, the positive)          |
| grounded   | a rewrite of a mined negative                                                 |
| continue   | the rest of a passage that opens with a mined negative's first sentences      |
"""

from __future__ import annotations

MODES = ("free", "grounded", "continue")
SOURCED = frozenset({"grounded", "continue"})  # the modes that start from a mined negative
