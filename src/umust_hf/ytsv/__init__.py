"""ytsv subpackage of umust_hf."""
