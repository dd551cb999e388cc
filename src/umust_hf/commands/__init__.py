"""commands subpackage of umust_hf."""
