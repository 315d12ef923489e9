"""Training: the loop (:func:`aekit.train.loop.fit`), checkpoints, callbacks, speed settings, DDP
and streaming batches. It ends at ``fit``: it knows neither run folders nor datasets by name."""
