"""Features: cleaning, chunking and embedding the author's documents."""
