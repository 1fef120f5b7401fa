"""Statistics and HTML reports of classified reviews."""
