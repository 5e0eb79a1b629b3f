"""What every command costs before it does anything: ``--help`` and ``--version``.

Help must come at once, so building it may not import Dask, distributed or
SQLAlchemy (seconds of imports); each command imports them when it runs.
This checks that in a fresh interpreter, for the help of every command and
group, rather than timing anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from click.testing import CliRunner

import daskflow
from daskflow.cli.main import cli

HEAVY = ("dask", "distributed", "sqlalchemy")

HELP_OF_EVERY_COMMAND = textwrap.dedent('''
    import json, sys
    import click
    from daskflow.cli.main import cli

    seen = []

    def walk(command, path):
        with click.Context(command, info_name=path[-1]) as ctx:
            assert command.get_help(ctx)
            seen.append(" ".join(path))
            if isinstance(command, click.Group):
                for name in command.list_commands(ctx):
                    walk(command.get_command(ctx, name), [*path, name])

    walk(cli, ["daskflow"])
    heavy = sorted({m.partition(".")[0] for m in sys.modules} & set(sys.argv[1:]))
    print(json.dumps({"commands": seen, "heavy": heavy}))
''')


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, timeout=120, check=True)


def test_help_of_every_command_imports_no_dask_distributed_or_sqlalchemy():
    found = json.loads(_python(HELP_OF_EVERY_COMMAND, *HEAVY).stdout)
    assert found["heavy"] == []
    # The walk reached the lazily loaded commands too.
    for command in ("daskflow dags trigger", "daskflow dags list-import-errors",
                    "daskflow tasks clear", "daskflow tasks logs", "daskflow scheduler",
                    "daskflow dags backfill", "daskflow db init", "daskflow pools set"):
        assert command in found["commands"]


def test_help_lists_every_command_of_a_group():
    result = CliRunner().invoke(cli, ["dags", "--help"])
    assert result.exit_code == 0
    for name in ("backfill", "list", "list-import-errors", "next-runs", "pause", "show",
                 "test", "trigger", "unpause", "versions"):
        assert f"  {name} " in result.output


def test_version_option_prints_the_package_version():
    for flag in ("--version", "-V"):
        result = CliRunner().invoke(cli, [flag])
        assert result.exit_code == 0
        assert result.output == f"daskflow {daskflow.__version__}\n"


def test_an_unknown_command_is_one_error_naming_it():
    result = CliRunner().invoke(cli, ["dags", "trigerr"])
    assert result.exit_code == 2
    assert "No such command 'trigerr'" in result.output
