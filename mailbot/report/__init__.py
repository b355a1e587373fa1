"""The monthly report: figures, rows, text and HTML."""
