"""HTTP shared by the poller and delivery: the address guard and clamped readings of response headers."""
