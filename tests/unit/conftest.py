"""The unit tests: pure functions and parsers, no emulator, no database server, no subprocess; they run
in seconds (`./dev test tests/unit`). Everything else under tests/ is end to end."""
