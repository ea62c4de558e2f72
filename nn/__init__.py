"""Neural-network modules (installed as minigrad.nn)."""
