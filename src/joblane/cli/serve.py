"""``joblane serve``: the monitoring REST API over the backend, with uvicorn.

Starlette and uvicorn are imported only when the command runs, so the rest
of the CLI works without the ``monitor`` extra.
"""

from __future__ import annotations

import secrets
import shlex
import sys
from collections.abc import Sequence

import click

from joblane.backends.base import ReadOnlyBackend
from joblane.cli.common import open_backend
from joblane.config import redact_url
from joblane.core.queues import DEFAULT_QUEUES, parse_queue_list
from joblane.core.states import Registry

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")

JS_CLIENT = """\
node --input-type=module <<'EOF'
async function listQueues(siteUrl, token) {{
    const response = await fetch(`${{siteUrl}}/@rq-queues`, {{
        headers: {{
            'Accept': 'application/json',
            'Authorization': `Bearer ${{token}}`
        }}
    }});
    const data = await response.json();
    return data.items;
}}
const token = '{token}';
const queues = await listQueues('{site}', token);
queues.forEach(q => console.log(`${{q.name}}: ${{q.count}} pending`));
EOF"""

PY_CLIENT = """\
{python} -m pip install -q requests && {python} - <<'EOF'
import requests
import time

def wait_for_job(site_url, queue, job_id, auth):
    url = f'{{site_url}}/@rq-job/{{queue}}/{{job_id}}'
    while True:
        job = requests.get(
            url,
            auth=auth,
            headers={{'Accept': 'application/json'}},
        ).json()
        if not job:
            raise RuntimeError('Job not found')
        if job['ended']:
            return job
        time.sleep(1)

job = wait_for_job('{site}', '{queue}', '{job_id}', ('{user}', '{password}'))
print(job['last_job_result'] or job['return_value'])
EOF"""


def client_commands(
    site: str, token: str, user: str, password: str, queue: str, job_id: str
) -> str:
    """Seed 000's two clients as shell commands against *site* (``http://host:port/prefix``):
    the JavaScript ``listQueues`` (Bearer) and the Python ``wait_for_job`` (Basic). The
    Python one runs in this interpreter's environment, with the ``requests`` it needs."""
    js = JS_CLIENT.format(site=site, token=token)
    py = PY_CLIENT.format(
        python=shlex.quote(sys.executable), site=site, queue=queue, job_id=job_id, user=user,
        password=password,
    )  # fmt: skip
    return f"{js}\n\n{py}"


def site_url(host: str, port: int, prefix: str) -> str:
    """The URL clients reach the API's prefix at (a wildcard host becomes loopback)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{prefix}"


def some_job(reader: ReadOnlyBackend, queues: Sequence[str]) -> tuple[str, str] | None:
    """(queue, job id) of a job to show in the Python client's command, if any."""
    for registry in (Registry.FINISHED, Registry.FAILED, Registry.STARTED, Registry.SCHEDULED):
        for queue in queues:
            jobs = reader.list_registry(queue, registry, 0, 1)
            if jobs:
                return queue, jobs[0].id
    for queue in queues:
        queued = reader.list_queued(queue, 0, 1)
        if queued:
            return queue, queued[0].id
    return None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="TCP port."
)
@click.option(
    "--prefix",
    envvar="JOBLANE_API_PREFIX",
    default="",
    help="Serve under this path, e.g. /Plone (env JOBLANE_API_PREFIX) [default: the root].",
)
@click.option(
    "--token",
    "tokens",
    multiple=True,
    help="Accept this Bearer token (repeatable; also env JOBLANE_API_TOKENS, comma-separated).",
)
@click.option(
    "--user",
    "users",
    multiple=True,
    help="Accept these Basic credentials, user:password (repeatable; also env "
    "JOBLANE_API_USERS, comma-separated).",
)
@click.option(
    "-q",
    "--queues",
    envvar="JOBLANE_API_QUEUES",
    default=",".join(DEFAULT_QUEUES),
    show_default=True,
    help="Queues always listed, comma-separated, with every queue that holds jobs "
    "(env JOBLANE_API_QUEUES).",
)
@click.option(
    "--generate-credentials",
    is_flag=True,
    help="Also accept a random token and user for this run; print them with the commands "
    "of seed 000's two clients.",
)
@click.option(
    "--no-auth",
    is_flag=True,
    help="Let every request in: only behind a proxy that authenticates. Refused while "
    "credentials are configured (options or environment).",
)
@click.option("--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True)
@click.pass_context
def serve(
    ctx: click.Context, host: str, port: int, prefix: str, tokens: tuple[str, ...],
    users: tuple[str, ...], queues: str, generate_credentials: bool, no_auth: bool,
    log_level: str,
) -> None:  # fmt: skip
    """Serve the read-only monitoring REST API (@rq-queues, @rq-job).

    Credentials are required (a Bearer token or a Basic user, from the options
    or the environment) unless --no-auth says otherwise.
    """
    try:
        import uvicorn

        from joblane.monitor import Auth, create_api
        from joblane.monitor.auth import credentials_in_env, parse_user
    except ModuleNotFoundError as missing:
        raise click.ClickException(
            f"joblane serve needs the 'monitor' extra ({missing.name} is not installed): "
            "pip install 'joblane[monitor]'"
        ) from None

    configured = parse_queue_list(queues)
    pairs = [parse_user(u, source="--user") for u in users]
    generated: tuple[str, str, str] | None = None
    if generate_credentials:
        generated = (secrets.token_urlsafe(32), "monitor", secrets.token_urlsafe(16))
        tokens = (*tokens, generated[0])
        pairs.append((generated[1], generated[2]))
    if no_auth:
        if tokens or pairs:
            raise click.UsageError("--no-auth cannot be combined with credentials")
        in_env = credentials_in_env()
        if in_env:
            raise click.UsageError(
                f"--no-auth cannot be combined with credentials ({' and '.join(in_env)} "
                f"{'is' if len(in_env) == 1 else 'are'} set): unset {' and '.join(in_env)} "
                "or leave out --no-auth"
            )
        auth = Auth.disabled()
    else:
        auth = Auth.from_env(tokens=tokens, users=pairs)
        if not auth.has_credentials:
            raise click.UsageError(
                "no credentials: pass --token or --user, set JOBLANE_API_TOKENS or "
                "JOBLANE_API_USERS, use --generate-credentials, or --no-auth"
            )
    reader = open_backend(ctx)
    app = create_api(reader, prefix=prefix, queues=configured, auth=auth)
    site = site_url(host, port, prefix.rstrip("/"))
    click.echo(f"joblane monitoring API for {redact_url(reader.url)}")
    click.echo(f"  queues:  {site}/@rq-queues")
    click.echo(f"  OpenAPI: {site}/@rq-openapi.json")
    click.echo(f"  authentication: {' and '.join(auth.schemes) or 'DISABLED (--no-auth)'}")
    if generated is not None:
        token, user, password = generated
        queue, job_id = some_job(reader, configured) or (configured[0], "JOB_ID")
        click.echo(f"  token for this run: {token}")
        click.echo(f"  user for this run:  {user}:{password}")
        click.echo("\nSeed 000's clients, ready to paste:\n")
        click.echo(client_commands(site, token, user, password, queue, job_id))
        click.echo()
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)
