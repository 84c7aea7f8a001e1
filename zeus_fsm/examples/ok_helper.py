"""Loaded by DemoPlan.child_ok: the successful child's own module."""

def column_total(rows: list[dict[str, str]], column: str) -> int:
    return sum(int(row[column]) for row in rows)
