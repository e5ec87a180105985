"""What a run's results look like: the terminal report and the Markdown summary (to a person), and
the JSON files (to a program, :mod:`~conformance.reporting.json_report`)."""
