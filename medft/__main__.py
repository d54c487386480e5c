"""`python -m medft <command> ...`: see medft.cli."""

from medft.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
