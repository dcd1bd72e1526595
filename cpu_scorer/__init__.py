"""Scores result archives (PSNR first) on the CPU; reads ground truth from object storage."""
