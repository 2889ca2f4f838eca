// Seed 000's JavaScript client, verbatim: list the queues (fetch, Authorization: Bearer).
// Run by tests/monitor/test_seed_clients.py as: SITE_URL=... TOKEN=... node list_queues.mjs

async function listQueues(siteUrl, token) {
    const response = await fetch(`${siteUrl}/@rq-queues`, {
        headers: {
            'Accept': 'application/json',
            'Authorization': `Bearer ${token}`
        }
    });
    const data = await response.json();
    return data.items;
}

// Usage
const token = process.env.TOKEN;
const queues = await listQueues(process.env.SITE_URL, token);
queues.forEach(q => console.log(`${q.name}: ${q.count} pending`));
