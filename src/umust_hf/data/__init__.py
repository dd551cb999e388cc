"""data subpackage of umust_hf."""
