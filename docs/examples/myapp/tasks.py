"""Jobs of the example application: the work a CMS pushes out of its requests."""

from __future__ import annotations

import json
import time

from joblane import Retry, current_job, job


@job
def purge_cdn(url: str) -> dict[str, str]:
    """Invalidate one page in the CDN cache."""
    time.sleep(0.2)  # stands for the HTTP call to the CDN
    return {"purged": url}


@job
def send_digest(recipients: list[str]) -> str:
    """Send the daily digest mail."""
    return f"sent to {len(recipients)} recipient(s)"


@job(retry=Retry(max=3, interval=[1, 2, 4]))
def sync_content(source: str) -> str:
    """Fetch content from a partner; its first attempt fails, as partners' servers do."""
    context = current_job()
    if context is not None and context.attempt == 1:
        raise ConnectionError(f"{source} did not answer")
    return f"synced {source}"


@job
def build_sitemap(seconds: float) -> str:
    """Rebuild the sitemap; takes *seconds*."""
    time.sleep(seconds)
    return "sitemap.xml"


@job
def import_feed(path: str) -> int:
    """Import the items of a JSON feed file; returns how many there were."""
    with open(path) as feed:
        return len(json.load(feed))


@job
def index_page(url: str, meta: dict[str, str]) -> str:
    """Index a page for search; *meta* is the page's metadata (a parameter named like an option)."""
    return f"indexed {url} ({meta.get('lang', '?')})"
