"""The teacher: the one scorer independent of the student (config section ``teacher``).

It rescores mined candidates, guards synthetic negatives, decides false negatives and gives the scores
distillation learns from. One module per concept; nothing heavy is imported here:

| module | owns |
|---|---|
| ``packaged`` | the named offline teachers (``mpnet``, ``embeddinggemma``), assembled at first use |
| ``load`` | :func:`load_teacher`: a bi- or cross-encoder from a packaged name or any path |
| ``bi_encoder`` | cosine scores, the passages' embeddings cached on disk (``syneg.retrieval.cache``) |
| ``cross_encoder`` | scores of a sentence-transformers ``CrossEncoder`` |
| ``false_negatives`` | the false-negative rule (``perc``) and which flagged passages are relabelled |
| ``guard`` | the hardness guard's keep band over synthetic negatives |
| ``fill`` | teacher scores for training instances that mining and the guard did not score |
"""
