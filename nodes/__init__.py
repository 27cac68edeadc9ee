"""Node library (filled by the node-library issue)."""
