"""evaluation subpackage of umust_hf."""
