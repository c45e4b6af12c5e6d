"""Data files that ship with sotriage, such as the demo sample in sample/."""
