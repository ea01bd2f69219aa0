"""``python -m builder.cli``."""

from builder.cli import main

if __name__ == "__main__":  # importing the package's modules (as a test does) runs nothing
    main()
