"""Training data: instruction pairs cut from the author's own text, split and versioned."""
