"""Scores ONNX model submissions on a hidden test set through Triton (or ONNX Runtime)."""
