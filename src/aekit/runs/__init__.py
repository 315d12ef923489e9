"""Workflows over the library: a training run end to end (its folder, resume, evaluation and
report) and the file-in / file-out helpers behind the CLI verbs. The CLI and the server call
these; they call :mod:`aekit.tasks` (computation) and :mod:`aekit.viz` (pictures)."""
