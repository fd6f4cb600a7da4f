"""Training: the loop (`trainer`), the run record (`record`), one run for the CLI and the app (`run`),
and runners that execute runs in worker processes (`runner`)."""
