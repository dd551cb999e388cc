"""processing subpackage of umust_hf."""
