"""Reading a finished (or running) study: diagnoses of learning curves, the summary and the HTML
report."""
