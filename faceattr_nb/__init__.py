"""faceattr_nb: the helper package of the faceattr course (multi-task facial attribute recognition)."""
__version__ = "0.1.0"
