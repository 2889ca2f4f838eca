"""A worker module in seed 003's style: a plain ``tasks`` list."""

from __future__ import annotations

from tests.jobs.arqstyle import flaky_task, send_invoice_email

tasks = [send_invoice_email, flaky_task]
