"""sotriage: predict whether, and why, a Stack Overflow question gets closed."""

__version__ = "0.1.0"
