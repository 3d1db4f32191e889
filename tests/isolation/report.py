"""Case counts of the isolation matrix, shown at the end of the run (tests/isolation/conftest.py)."""
COUNTS: dict[str, str] = {}


def record(area: str, line: str) -> None:
    COUNTS[area] = line
    print(line)
