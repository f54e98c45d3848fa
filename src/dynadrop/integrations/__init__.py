"""Training-framework integrations: callbacks that drive a :class:`dynadrop.DropoutScheduler`.

- ``dynadrop.integrations.lightning.DropoutSchedulerCallback`` for Lightning's ``Trainer``
  (``pip install 'dynadrop[lightning]'``);
- ``dynadrop.integrations.transformers.DropoutSchedulerCallback`` for Hugging Face's ``Trainer``
  (``pip install 'dynadrop[transformers]'``).

Import the submodule you need: this package imports neither framework, and the core imports
nothing from here.
"""
