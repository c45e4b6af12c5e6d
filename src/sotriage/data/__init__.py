"""Data stage: read question sources, clean their text, split and write prepared datasets."""
