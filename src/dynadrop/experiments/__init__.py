"""Compare dropout schedules fairly: schedules x seeds under one budget, statistics, a report.

Imports gpt (the workload) and core; only the CLI imports this package.
"""
