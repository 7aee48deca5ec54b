"""Training recipes: a dataclass of hyperparameters plus the hooks training.loop.train calls."""
