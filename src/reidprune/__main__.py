"""``python -m reidprune`` (also what ``torchrun -m reidprune`` runs)."""
from reidprune.cli import main

if __name__ == "__main__":
    main()
