"""The reference workload: a character-level GPT (nanoGPT-equivalent) on tinyshakespeare.

Every dropout site of the model is scheduled through :mod:`dynadrop.core`. Modules, one job each:
``data`` (corpus, vocabulary, splits, batches), ``model`` (the GPT), ``config`` (hyperparameters
and presets), ``trainer`` (the training loop), ``checkpoint`` (atomic save, safe load),
``sampling`` (text generation, inference speed) and ``distributed`` (DDP set-up).
"""
