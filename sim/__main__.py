"""`python -m sim`: the consim command line."""

from sim.cli import main

if __name__ == "__main__":
    main()
