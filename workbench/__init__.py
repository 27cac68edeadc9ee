"""Kernel-resident session (filled by the Workbench issue)."""
