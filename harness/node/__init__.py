"""A real Linux node the project builds itself (Debian packages only) and drives: user-mode-linux."""
