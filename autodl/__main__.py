"""``python -m autodl``."""

from autodl.cli.main import main

if __name__ == "__main__":
    main()
