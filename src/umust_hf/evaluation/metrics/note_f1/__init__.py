"""Folder of an ``evaluate`` module (see the script beside this file)."""
