"""`python -m emulator`: the same commands as `costwatch-emulator`."""

from .cli import main

if __name__ == "__main__":
    main()
