"""python -m reidprune"""
from reidprune.cli import main

if __name__ == "__main__":
    main()
