// Client of bench/connections, Node built-ins only, on raw sockets (no http.Agent, so every
// connection is exactly one socket this script opened):
//   1. opens --conns keep-alive connections, each sending GET /v1/models once, and holds them;
//   2. while they are held, starts --streams streamed chat completions on new connections,
//      evenly over --ramp-ms, reads every SSE event and records per stream the time to the
//      first response byte, to the first event, the largest gap between events (and when it
//      ended), and whether `data: [DONE]` came;
//   3. sends GET /v1/models again on every --check-every-th held connection, and counts the
//      held connections the server closed.
// The server's VmRSS (--pid) is sampled at 10 Hz throughout; the event loop's own lateness is
// sampled every 10 ms during the streams, so that stalls the client caused can be told from
// the server's. Prints one line `CONNECTIONS_JSON {...}`; exits 1 when a held connection failed
// or was closed, or a stream failed.
//   node bench/connections.mjs --port 8080 --pid 1234 [--conns 10000] [--streams 2000]
//        [--ramp-ms 1000] [--stall-ms 100] [--max-tokens 64] [--model bench]
//        [--open-concurrency 200] [--check-every 10] [--timeout-ms 30000] [--hz CLK_TCK]
import fs from 'node:fs';
import net from 'node:net';

const args = { host: '127.0.0.1', conns: 10000, streams: 2000, 'ramp-ms': 1000, 'stall-ms': 100,
               'max-tokens': 64, model: 'bench', 'open-concurrency': 200, 'check-every': 10,
               'timeout-ms': 30000, hz: 100 };
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['port', 'pid', 'conns', 'streams', 'ramp-ms', 'stall-ms', 'max-tokens', 'open-concurrency',
                 'check-every', 'timeout-ms', 'hz']) args[k] = Number(args[k]);
if (!args.port || !args.pid) { console.error('usage: --port PORT --pid GATEWAY_PID [...]'); process.exit(2); }

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1))];
};

function rssKb() {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${args.pid}/status`, 'latin1'));
  return m ? Number(m[1]) : 0;
}
function cpuTicks() {  // utime + stime of the gateway, all threads
  const st = fs.readFileSync(`/proc/${args.pid}/stat`, 'latin1');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}
function cpuBusy() {  // per CPU: [busy, total] ticks from /proc/stat
  const out = {};
  for (const line of fs.readFileSync('/proc/stat', 'latin1').split('\n')) {
    const m = /^cpu(\d+) (.*)/.exec(line);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    out[m[1]] = [total - v[3] - v[4], total];
  }
  return out;
}

// 10 Hz RSS samples; `phase` names what the client is doing.
let phase = 'idle';
const rssPeak = {};
const sampleRss = () => { rssPeak[phase] = Math.max(rssPeak[phase] || 0, rssKb()); };
sampleRss();
const rssTimer = setInterval(sampleRss, 100);

// An HTTP/1.1 response reader for one connection: Content-Length or chunked bodies, one
// response after another. `on` holds the current request's callbacks: head(status), data(buf), end().
class Reader {
  constructor() { this.buf = Buffer.alloc(0); this.state = 'head'; this.left = 0; this.on = null; }
  feed(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.state === 'head') {
        const i = this.buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        const head = this.buf.toString('latin1', 0, i);
        this.buf = this.buf.subarray(i + 4);
        const status = Number(head.slice(9, 12));
        const chunked = /\r\ntransfer-encoding:\s*chunked/i.test(head);
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        this.on?.head?.(status);
        if (chunked) this.state = 'size';
        else if (cl && Number(cl[1]) > 0) { this.left = Number(cl[1]); this.state = 'body'; }
        else this.finish();
      } else if (this.state === 'size') {
        const i = this.buf.indexOf('\r\n');
        if (i < 0) return;
        const size = parseInt(this.buf.toString('latin1', 0, i), 16);
        this.buf = this.buf.subarray(i + 2);
        if (size > 0) { this.left = size; this.state = 'chunk'; } else this.state = 'trailer';
      } else if (this.state === 'chunk' || this.state === 'body') {
        if (!this.buf.length) return;
        const n = Math.min(this.left, this.buf.length);
        this.on?.data?.(this.buf.subarray(0, n));
        this.buf = this.buf.subarray(n);
        this.left -= n;
        if (this.left > 0) return;
        if (this.state === 'body') this.finish(); else this.state = 'crlf';
      } else if (this.state === 'crlf') {
        if (this.buf.length < 2) return;
        this.buf = this.buf.subarray(2);
        this.state = 'size';
      } else if (this.state === 'trailer') {
        const i = this.buf.indexOf('\r\n');
        if (i < 0) return;
        this.buf = this.buf.subarray(i + 2);
        if (i === 0) this.finish();
      }
    }
  }
  finish() { this.state = 'head'; const on = this.on; this.on = null; on?.end?.(); }
}

function connect() {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: args.host, port: args.port });
    s.setNoDelay(true);
    s.once('connect', () => { s.removeListener('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

// One request on a connection; resolves with its status once the whole response was read.
function request(conn, text, on = {}) {
  return new Promise((resolve) => {
    let status = 0;
    const timer = setTimeout(() => done('timeout'), args['timeout-ms']);
    const done = (error) => {
      clearTimeout(timer);
      conn.fail = null;
      resolve({ status, error });
    };
    conn.fail = (why) => done(why);
    conn.reader.on = { head: (st) => { status = st; on.head?.(); }, data: on.data, end: () => done(null) };
    conn.socket.write(text);
  });
}

function wrap(socket) {
  const conn = { socket, reader: new Reader(), fail: null, closed: false };
  socket.on('data', (b) => conn.reader.feed(b));
  socket.on('error', (e) => { conn.error = e.code || String(e); });
  socket.on('close', () => { conn.closed = true; conn.fail?.(conn.error || 'closed'); });
  return conn;
}

const modelsRequest = `GET /v1/models HTTP/1.1\r\nHost: ${args.host}:${args.port}\r\n\r\n`;
const body = JSON.stringify({
  model: args.model, stream: true, max_tokens: args['max-tokens'],
  messages: [{ role: 'system', content: 'You are terse.' },
             { role: 'user', content: 'Stream something about keep-alive connections.' }],
});
const streamRequest = `POST /v1/chat/completions HTTP/1.1\r\nHost: ${args.host}:${args.port}\r\n` +
  `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

// 1. Idle keep-alive connections.
const idleRssKb = rssPeak.idle;
phase = 'opening';
const held = [];
let openFailed = 0;
const openErrors = {};
const tOpen = nowMs();
let next = 0;
await Promise.all(Array.from({ length: args['open-concurrency'] }, async () => {
  while (next < args.conns) {
    next++;
    try {
      const conn = wrap(await connect());
      const r = await request(conn, modelsRequest);
      if (r.status === 200 && !r.error) { held.push(conn); continue; }
      openErrors[r.error || r.status] = (openErrors[r.error || r.status] || 0) + 1;
      conn.socket.destroy();
    } catch (e) {
      openErrors[e.code || String(e)] = (openErrors[e.code || String(e)] || 0) + 1;
    }
    openFailed++;
  }
}));
const openSeconds = (nowMs() - tOpen) / 1000;
phase = 'held';
await sleep(1000);
const heldRssKb = rssKb();

// 2. Streams, while the idle connections are held.
phase = 'streams';
let lagMax = 0;
let lagLast = nowMs();
const lagTimer = setInterval(() => {
  const t = nowMs();
  lagMax = Math.max(lagMax, t - lagLast - 10);
  lagLast = t;
}, 10);
const cpu0 = cpuTicks(), busy0 = cpuBusy(), tStreams = nowMs();
const eventsPer100ms = [];

async function oneStream() {
  const r = { status: 0, first_byte_ms: null, first_event_ms: null, total_ms: null, events: 0,
              max_gap_ms: 0, max_gap_end_s: null, done: false, error: null };
  let conn;
  const t0 = nowMs();
  try {
    conn = wrap(await connect());
  } catch (e) {
    r.error = e.code || String(e);
    return r;
  }
  let pending = '';
  let last = null;
  const res = await request(conn, streamRequest, {
    head: () => { r.first_byte_ms = nowMs() - t0; },
    data: (b) => {
      pending += b.toString('latin1');
      let i;
      while ((i = pending.indexOf('\n\n')) >= 0) {
        const event = pending.slice(0, i);
        pending = pending.slice(i + 2);
        const t = nowMs();
        if (last === null) r.first_event_ms = t - t0;
        else if (t - last > r.max_gap_ms) { r.max_gap_ms = t - last; r.max_gap_end_s = (t - tStreams) / 1000; }
        eventsPer100ms[Math.floor((t - tStreams) / 100)] = (eventsPer100ms[Math.floor((t - tStreams) / 100)] || 0) + 1;
        last = t;
        r.events++;
        if (event.startsWith('data: [DONE]')) r.done = true;
      }
    },
  });
  r.total_ms = nowMs() - t0;
  r.status = res.status;
  r.error = res.error;
  conn.socket.destroy();
  return r;
}

const streams = await Promise.all(Array.from({ length: args.streams }, (_, k) =>
  sleep((k * args['ramp-ms']) / args.streams).then(oneStream)));
const streamSeconds = (nowMs() - tStreams) / 1000;
const gatewayCpuPct = (100 * (cpuTicks() - cpu0)) / args.hz / streamSeconds;
const busy1 = cpuBusy();
const cpuPct = Object.fromEntries(Object.keys(busy1).map((c) =>
  [c, Math.round((100 * (busy1[c][0] - busy0[c][0])) / Math.max(1, busy1[c][1] - busy0[c][1]))]));
clearInterval(lagTimer);

// 3. The held connections: closed by the server meanwhile? Do they still answer?
phase = 'check';
const closedByServer = held.filter((c) => c.closed).length;
let checked = 0, checkOk = 0;
for (let i = 0; i < held.length; i += args['check-every']) {
  const c = held[i];
  checked++;
  if (c.closed) continue;
  const r = await request(c, modelsRequest);
  if (r.status === 200 && !r.error) checkOk++;
}
clearInterval(rssTimer);
for (const c of held) c.socket.destroy();

const ok = streams.filter((s) => s.status === 200 && s.done && !s.error);
const failed = streams.length - ok.length;
const stalled = ok.filter((s) => s.max_gap_ms > args['stall-ms']).length;
const gaps = ok.map((s) => s.max_gap_ms);
const firstByte = ok.map((s) => s.first_byte_ms);
const firstEvent = ok.map((s) => s.first_event_ms);
const events = ok.map((s) => s.events);
const failures = {};
for (const s of streams) {
  if (s.status === 200 && s.done && !s.error) continue;
  const why = s.error || (s.status !== 200 ? `status ${s.status}` : 'no [DONE]');
  failures[why] = (failures[why] || 0) + 1;
}
const stalledEnds = ok.filter((s) => s.max_gap_ms > args['stall-ms']).map((s) => s.max_gap_end_s);
const summary = {
  conns: args.conns, held: held.length, open_failed: openFailed, open_errors: openErrors,
  open_seconds: openSeconds, closed_by_server: closedByServer, checked, check_ok: checkOk,
  check_every: args['check-every'],
  streams: args.streams, complete: ok.length, failed, failures, stalled, stall_ms: args['stall-ms'],
  max_gap_ms: Math.max(0, ...gaps), gap_p50_ms: pct(gaps, 50), gap_p99_ms: pct(gaps, 99),
  stalled_gap_end_s: stalledEnds.length
    ? { min: pct(stalledEnds, 0), p50: pct(stalledEnds, 50), max: pct(stalledEnds, 100) } : null,
  first_byte_p50_ms: pct(firstByte, 50), first_byte_p99_ms: pct(firstByte, 99),
  first_byte_max_ms: Math.max(0, ...firstByte),
  first_event_p50_ms: pct(firstEvent, 50), first_event_p99_ms: pct(firstEvent, 99),
  events_min: events.length ? Math.min(...events) : 0, events_max: events.length ? Math.max(...events) : 0,
  events_per_100ms: Array.from(eventsPer100ms, (x) => x || 0),
  events_total: events.reduce((a, b) => a + b, 0),
  stream_phase_seconds: streamSeconds, server_cpu_pct: gatewayCpuPct, cpu_busy_pct: cpuPct,
  client_loop_lag_max_ms: lagMax,
  rss_kb: { idle: idleRssKb, held: heldRssKb, peak: Math.max(...Object.values(rssPeak)), peak_by_phase: rssPeak },
};
console.log('CONNECTIONS_JSON ' + JSON.stringify(summary));
process.exit(held.length < args.conns || closedByServer > 0 || checkOk < checked || failed > 0 ? 1 : 0);
