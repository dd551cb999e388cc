"""training subpackage of umust_hf."""
