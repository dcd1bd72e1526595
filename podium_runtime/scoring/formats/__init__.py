"""Format readers: bytes (and the task's settings) in, checked arrays aligned with the ground truth out."""
