"""Seed 003's request handler, as its user writes it: only the import differs
(``from scalr_queue import enqueue`` there)."""

from __future__ import annotations

from fastapi import FastAPI

from joblane import aenqueue as enqueue

router = FastAPI()


@router.post("/invoices/{id}/send")
async def trigger(id: int) -> dict[str, str]:
    job = await enqueue("send_invoice_email", invoice_id=id)
    return {"job_id": job.job_id}


app = router
