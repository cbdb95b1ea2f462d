"""The ``real3d`` command. Each subcommand lives in its own module of this package and is
registered here; argument parsing stays in this package."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="real3d",
    help="Real-time indoor 3D scene understanding for robots.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from real3d.cli import (
        batch_cmd,
        bench_cmd,
        data_cmd,
        demo_cmd,
        eval_cmd,
        export_cmd,
        info_cmd,
        prune_cmd,
        run_cmd,
        segment_cmd,
        synth_cmd,
        train_cmd,
    )

    app.command("demo")(demo_cmd.demo)
    app.command("run")(run_cmd.run)
    app.command("segment")(segment_cmd.segment)
    app.command("batch")(batch_cmd.batch)
    app.command("bench")(bench_cmd.bench)
    app.command("synth")(synth_cmd.synth)
    app.command("info")(info_cmd.info)
    app.add_typer(train_cmd.app, name="train")
    app.add_typer(eval_cmd.app, name="eval")
    app.add_typer(data_cmd.app, name="data")
    app.command("export")(export_cmd.export)
    app.command("prune")(prune_cmd.prune)


def _version(value: bool) -> None:
    if value:
        from real3d import __version__

        typer.echo(f"real3d {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version of real3d and exit."
    ),
) -> None:
    """Real-time indoor 3D scene understanding for robots."""


_register()


def main() -> None:
    from real3d.core.errors import Real3DError

    try:
        app()
    except Real3DError as e:
        typer.secho(f"real3d: error: {e}", fg="red", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
