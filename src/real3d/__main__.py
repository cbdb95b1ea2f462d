"""``python -m real3d``: the ``real3d`` command (``real3d.cli.main``)."""

from real3d.cli.main import main

if __name__ == "__main__":
    main()
