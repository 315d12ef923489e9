"""Helpers shared by the CLI tests."""

from __future__ import annotations

from aekit.cli import main


def fails(capsys, argv, *messages):
    """Run the CLI with ``argv``: it must exit 2 with a message (no traceback) holding each of ``messages``."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for m in messages:
        assert m in err, err
    return err
