"""``python -m gtzan.training``: see gtzan.training.cli."""

from .cli import main

if __name__ == "__main__":
    main()
