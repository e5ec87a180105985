"""What a run's results look like to a person: the terminal report and the Markdown summary."""
