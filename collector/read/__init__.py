"""Every read of the store that the CLI, the dashboard, the alert rules and the reports share: one
query per figure, so they agree to the cent.

spend           costs by any dimension, from the rows or the rollups
costs           cost rows one by one: the drill-down, the days held, VM hours
inventory       subscriptions, projects, deployments, marketplace subscriptions, traffic hours
monthly_report  the month's report for finance, the figures every report file writes
budgets         cost centers and budget totals (tag names case-insensitive, projects by subscription and name)
quota           the newest quota snapshot per family, and what it counts
headroom        peak tokens and requests per minute against each deployment's own limits
freshness       each job's and scope's last success, and whether it is stale
events          inventory events
alerts          the alerts, firing or not
money           how an amount is written
"""
