"""The scoring kit: format readers turn a submission into checked arrays, metrics are pure functions over them."""
