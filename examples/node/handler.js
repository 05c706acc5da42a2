// examples/node/handler.js: an app's own webhook handler that feeds presence.
//
// The provider sends every event the app selects to one URL.  This handler
// receives them all, hands each delivery to presence_ingest() in PostgreSQL
// (which checks the signature, applies user:connection_status and answers
// other types with `ignored`), does the app's own work for the other types
// (here: lets every *:pre_messaging message pass), and pushes the presence
// feed (LISTEN presence; the database needs presence.feed = 'notify') to
// browsers as server-sent events on GET /events.
//
// Settings from the environment: PORT (default 8000; 0 picks a free port),
// and the libpq variables (PGHOST, PGDATABASE, ...) or DATABASE_URL.
// Needs node 18+ and `pg` (npm ci).  Run: node handler.js
'use strict';
const http = require('node:http');
const { Pool, Client } = require('pg');

const conn = process.env.DATABASE_URL ? { connectionString: process.env.DATABASE_URL } : {};
const pool = new Pool({ ...conn, max: 8 });
const clients = new Set(); // open /events responses

// nonce, signTimestamp, signature, appKey: query string first, then headers.
function signature(url, headers) {
  const q = url.searchParams;
  const pick = (names, header) => {
    for (const n of names) if (q.has(n)) return q.get(n);
    return headers[header.toLowerCase()] ?? headers['rc-' + header.toLowerCase()] ?? null;
  };
  return [pick(['nonce'], 'Nonce'), pick(['signTimestamp', 'timestamp'], 'Timestamp'),
          pick(['signature'], 'Signature'), pick(['appKey'], 'App-Key')];
}

// presence_ingest() for one delivery: [HTTP status, reply object].
async function ingest(body, sig) {
  try {
    const r = await pool.query('SELECT (r).* FROM presence_ingest($1, $2, $3, $4, $5) AS r', [body, ...sig]);
    return [200, r.rows[0]];
  } catch (e) {
    const code = e.code || '';
    const status = code === '28000' ? 401 : code.startsWith('22') ? 400 : code === '54000' ? 413 : 503;
    return [status, { error: e.message }];
  }
}

function reply(res, status, obj) {
  const data = JSON.stringify(obj);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

async function webhook(req, res, url) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks).toString('utf8');
  const [status, result] = await ingest(body, signature(url, req.headers));
  if (status === 200 && Number(result.ignored) > 0) {
    // Another event type, signed: the app's own work goes here.
    const type = JSON.parse(body).type || '';
    if (type.endsWith(':pre_messaging')) return reply(res, 200, { pass: true });
  }
  reply(res, status, result);
}

function events(req, res) {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' });
  clients.add(res);
  res.write(': connected\n\n');
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15000);
  req.on('close', () => { clearInterval(keepAlive); clients.delete(res); });
}

async function main() {
  const feed = new Client(conn);
  await feed.connect();
  feed.on('notification', (n) => {
    for (const res of clients) res.write(`event: presence\ndata: ${n.payload}\n\n`);
  });
  await feed.query('LISTEN presence');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (req.method === 'POST' && url.pathname === '/webhook') {
      webhook(req, res, url).catch((e) => reply(res, 500, { error: String(e) }));
    } else if (req.method === 'GET' && url.pathname === '/events') {
      events(req, res);
    } else {
      reply(res, 404, { error: 'not found' });
    }
  });
  server.listen(Number(process.env.PORT ?? 8000), '127.0.0.1', () => {
    console.log(`listening on port ${server.address().port}`);
  });
}

main().catch((e) => { console.error(e); process.exit(1); });
