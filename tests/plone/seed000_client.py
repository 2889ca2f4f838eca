"""Seed 000's Python client, as the seed prints it."""
# fmt: off
# ruff: noqa: I001
# mypy: allow-untyped-defs, allow-untyped-calls

import requests
import time

def wait_for_job(site_url, queue, job_id, auth):
    url = f'{site_url}/@rq-job/{queue}/{job_id}'
    while True:
        job = requests.get(
            url,
            auth=auth,
            headers={'Accept': 'application/json'},
        ).json()
        if not job:
            raise RuntimeError('Job not found')
        if job['ended']:
            return job
        time.sleep(1)
# fmt: on
