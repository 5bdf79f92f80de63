"""PostgreSQL migrations (`vNNNN_*.py`, applied in order)."""
