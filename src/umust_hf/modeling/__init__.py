"""modeling subpackage of umust_hf."""
