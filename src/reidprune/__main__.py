"""``python -m reidprune`` (and ``torchrun -m reidprune``) runs the command line."""
from reidprune.cli import main

if __name__ == "__main__":
    main()
