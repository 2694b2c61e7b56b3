// Warden console: one page over the HTTP/JSON API (docs/api.md), with the
// caller's own token. Plain DOM, no framework: every value the server sends
// is set as text, never as HTML. Money stays in decimal strings and BigInt
// micro-dollars; floating point only sizes chart bars.
'use strict';

const TOKEN_KEY = 'warden.token';
const PAGES = {
  overview: {roles: ['agent', 'approver', 'auditor', 'admin'], load: loadOverview},
  spend: {roles: ['auditor'], load: loadSpend},
  approvals: {roles: ['approver', 'admin'], load: loadApprovals},
  audit: {roles: ['auditor'], load: loadAudit},
  frozen: {roles: ['admin', 'auditor'], load: loadFrozen},
};
const PALETTE = ['#0b5cad', '#b34700', '#1f7a3a', '#7a3fa8', '#8a6100',
                 '#0e7c86', '#b3161b', '#4a5260'];

let session = null;  // {token, who: {org_id, principal, roles}}

const $ = (selector) => document.querySelector(selector);

// el('td', {class: 'num'}, 'text', childNode...)
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'style') node.style.cssText = v;  // CSSOM: allowed by the CSP.
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) {
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) {
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function say(text, isError = false) {
  const status = $('#status');
  status.textContent = text;
  status.className = isError ? 'error' : '';
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// POST /warden.v1.<Service>/<Method> with the session's token.
async function call(method, body = {}, token = session && session.token) {
  const res = await fetch('/warden.v1.' + method, {
    method: 'POST',
    headers: {'Content-Type': 'application/json',
              'Authorization': 'Bearer ' + token},
    body: JSON.stringify(body),
  });
  let data = null;
  try {
    data = await res.json();
  } catch (e) {
    data = {code: 'unknown', message: `HTTP ${res.status}`};
  }
  if (!res.ok) {
    if (res.status === 401 && session) signOut(`Signed out: ${data.message}`);
    throw new ApiError(res.status, data.code, data.message);
  }
  return data;
}

function can(page) {
  return Object.hasOwn(PAGES, page) && PAGES[page].roles.some((r) => session.who.roles.includes(r));
}

function hasRole(role) {
  return session.who.roles.includes(role);
}

// ---- Money, exactly: decimal strings to BigInt micro-dollars and back.

function micros(decimal) {
  const text = String(decimal || '0');
  const negative = text.startsWith('-');
  const [whole, frac = ''] = text.replace('-', '').split('.');
  const value = BigInt(whole || '0') * 1000000n +
                BigInt((frac + '000000').slice(0, 6));
  return negative ? -value : value;
}

function usd(value) {
  const v = typeof value === 'bigint' ? value : micros(value);
  const sign = v < 0n ? '-' : '';
  const abs = v < 0n ? -v : v;
  const cents = (abs + 5000n) / 10000n;
  const whole = (cents / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}$${whole}.${(cents % 100n).toString().padStart(2, '0')}`;
}

function time(ts) {
  if (!ts) return '';
  return ts.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

// ISO date (yyyy-mm-dd) from a date input to RFC 3339 at UTC midnight.
function dateToTimestamp(value) {
  return value ? `${value}T00:00:00Z` : undefined;
}

function isoDate(daysAgo) {
  const d = new Date(Date.now() - daysAgo * 86400000);
  return d.toISOString().slice(0, 10);
}

// ---- Sign in.

async function signIn(token) {
  const who = await call('AuthorizationService/WhoAmI', {}, token);
  session = {token, who};
  sessionStorage.setItem(TOKEN_KEY, token);
  $('#signin').hidden = true;
  $('#signin-error').textContent = '';
  $('#nav').hidden = false;
  $('#who').hidden = false;
  $('#who-name').textContent =
      `${who.principal} (${who.roles.join(', ')}) · org ${who.org_id}`;
  for (const a of document.querySelectorAll('#nav a')) {
    a.hidden = !can(a.getAttribute('href').slice(1));
  }
  route();
}

function signOut(message = '') {
  session = null;
  sessionStorage.removeItem(TOKEN_KEY);
  for (const page of document.querySelectorAll('.page')) page.hidden = true;
  $('#nav').hidden = true;
  $('#who').hidden = true;
  $('#signin').hidden = false;
  $('#token').value = '';
  $('#signin-error').textContent = message;
  say('');
  $('#token').focus();
}

// ---- Pages.

function route() {
  if (!session) return;
  let page = location.hash.slice(1);
  if (!Object.hasOwn(PAGES, page)) page = 'overview';
  for (const [name] of Object.entries(PAGES)) $('#' + name).hidden = name !== page;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === '#' + page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  say('');
  if (!can(page)) {
    const body = $('#' + page).querySelector('[id$="-body"]') || $('#spend-chart');
    body.replaceChildren(el('p', {}, `This page needs the ${PAGES[page].roles.join(' or ')} ` +
                            `role; this token has ${session.who.roles.join(', ')}.`));
    return;
  }
  PAGES[page].load().catch((e) => say(e.message, true));
}

// Utilization level from exact figures: 80%, 95%, 100% of the limit.
function level(used, limit) {
  if (limit <= 0n || used * 100n >= limit * 100n) return 'over';
  if (used * 100n >= limit * 95n) return 'high';
  if (used * 100n >= limit * 80n) return 'warn';
  return 'ok';
}

function percent(used, limit) {
  if (limit <= 0n) return '100.0%';
  const tenths = (used * 1000n) / limit;
  return `${tenths / 10n}.${tenths % 10n}%`;
}

function limitRow(l) {
  const isCount = l.limit_usd === '' || l.limit_usd === undefined;
  const used = isCount ? BigInt(l.used_count) : micros(l.used_usd);
  const limit = isCount ? BigInt(l.limit_count) : micros(l.limit_usd);
  const lvl = level(used, limit);
  const pct = percent(used, limit);
  const width = limit > 0n ? Number((used > limit ? limit : used) * 1000n / limit) / 10 : 100;
  const figures = isCount
      ? `${l.used_count} of ${l.limit_count} transactions`
      : `${usd(l.used_usd)} of ${usd(l.limit_usd)}`;
  const detail = isCount
      ? `${l.settled_count} settled, ${l.held_count} held, ${l.pending_count} pending`
      : `${usd(l.settled_usd)} settled, ${usd(l.held_usd)} held, ` +
        `${usd(l.pending_usd)} pending, ${usd(l.remaining_usd)} left`;
  const label = `${l.scope} ${l.name} (${l.window})`;
  return el('div', {'class': `limit ${lvl}`, 'data-scope': l.scope, 'data-limit': l.name},
    el('div', {'class': 'name'}, el('strong', {}, l.scope.split('/').slice(1).join('/')),
       ' · ', l.name, el('br'), el('small', {}, `${l.window}, ${l.on_violation}`)),
    el('div', {'class': 'bar', 'role': 'progressbar', 'aria-label': label,
               'aria-valuemin': 0, 'aria-valuemax': 100,
               'aria-valuenow': Math.min(100, width), 'aria-valuetext': pct},
       el('span', {'style': `width:${Math.min(100, width)}%`})),
    el('div', {'class': 'figures', 'title': detail},
       el('span', {'class': 'pct'}, pct), ' · ', figures, el('br'),
       el('small', {}, detail)));
}

async function loadOverview() {
  const agentOnly = !['approver', 'auditor', 'admin'].some(hasRole);
  const scope = agentOnly ? session.who.principal : '';
  const r = await call('AuthorizationService/BudgetStatus',
                       {scope, include_below: true});
  const kinds = [['org', 'Organization'], ['department', 'Departments'],
                 ['agent', 'Agents'], ['wallet', 'Wallets'],
                 ['chain', 'Chains'], ['asset', 'Assets'],
                 ['destination', 'Destinations']];
  const body = [];
  for (const [kind, title] of kinds) {
    const limits = r.limits.filter((l) => l.scope.startsWith(kind + '/'));
    if (limits.length === 0) continue;
    body.push(el('h3', {}, title), ...limits.map(limitRow));
  }
  if (body.length === 0) body.push(el('p', {}, 'No limits in the active policy.'));
  body.push(el('p', {'class': 'hint'}, `As of ${time(r.as_of)}.`));
  $('#overview-body').replaceChildren(...body);
}

async function loadSpend() {
  const form = $('#spend-form');
  if (!form.from.value) form.from.value = isoDate(30);
  const request = {
    group_by: form.group_by.value,
    period: form.period.value,
    from: dateToTimestamp(form.from.value),
    to: dateToTimestamp(form.to.value),
  };
  const r = await call('AuditService/SpendSummary', request);
  drawChart(r.rows, request);
  const rows = r.rows.map((row) => el('tr', {},
    el('td', {}, time(row.period_start).slice(0, 10)), el('td', {}, row.key),
    el('td', {'class': 'num'}, usd(row.settled_usd)),
    el('td', {'class': 'num'}, usd(row.held_usd)),
    el('td', {'class': 'num'}, usd(row.total_usd)),
    el('td', {'class': 'num'}, row.count)));
  $('#spend-table').replaceChildren(el('table', {},
    el('caption', {'class': 'hint'}, 'Spend of authorizations created in each period ' +
       `(total ${usd(r.total.total_usd)}, ${r.total.count} spends)`),
    el('thead', {}, el('tr', {}, ['Period', 'Key', 'Settled', 'Held', 'Total', 'Count']
      .map((h, i) => el('th', {'class': i > 1 ? 'num' : null, 'scope': 'col'}, h)))),
    el('tbody', {}, rows)));
}

const PERIOD_DAYS = {PERIOD_DAY: 1, PERIOD_WEEK: 7, PERIOD_MONTH: 30};

// A stacked bar per period on a time axis from `from` to `to` (or now), a
// colour per key.
function drawChart(rows, request) {
  const keys = [...new Set(rows.map((r) => r.key))].sort();
  if (rows.length === 0) {
    $('#spend-chart').replaceChildren(el('p', {}, 'No spend in this range.'));
    return;
  }
  const periods = [...new Set(rows.map((r) => r.period_start))].sort();
  const totals = new Map(periods.map((p) => [p, 0n]));
  for (const r of rows) totals.set(r.period_start, totals.get(r.period_start) + micros(r.total_usd));
  const max = [...totals.values()].reduce((a, b) => (a > b ? a : b), 1n);
  const W = 720, H = 260, left = 70, bottom = 24, top = 10;
  const start = Date.parse(request.from);
  const periodMs = PERIOD_DAYS[request.period] * 86400000;
  const end = Math.max(request.to ? Date.parse(request.to) : Date.now(),
                       Date.parse(periods[periods.length - 1]) + periodMs);
  const x = (t) => left + (t - start) / (end - start) * (W - left);
  const barWidth = Math.max(2, periodMs / (end - start) * (W - left) * 0.8);
  const scale = (v) => Number((v * 10000n) / max) / 10000 * (H - bottom - top);
  const chart = svg('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img',
    'aria-label': `Spend per period by ${keys.length} keys; the table below has the figures`});
  chart.append(svg('line', {x1: left, y1: H - bottom, x2: W, y2: H - bottom, stroke: '#4a5260'}));
  chart.append(svg('text', {x: 4, y: top + 10}, usd(max)));
  chart.append(svg('text', {x: 4, y: H - bottom}, '$0'));
  for (let i = 0; i <= 5; ++i) {
    const t = start + (end - start) * i / 5;
    chart.append(svg('text', {x: Math.min(x(t), W - 40), y: H - 6},
                     new Date(t).toISOString().slice(0, 10)));
  }
  for (const p of periods) {
    let y = H - bottom;
    for (const r of rows.filter((row) => row.period_start === p)) {
      const h = scale(micros(r.total_usd));
      y -= h;
      const colour = PALETTE[keys.indexOf(r.key) % PALETTE.length];
      chart.append(svg('rect', {x: Math.max(left, x(Date.parse(p))), y, width: barWidth,
                                height: Math.max(h, 0.5), fill: colour,
                                'data-key': r.key, 'data-period': p},
                       svg('title', {}, `${r.key}, ${time(p).slice(0, 10)}: ${usd(r.total_usd)}`)));
    }
  }
  const legend = el('ul', {'class': 'legend'}, keys.map((k, i) =>
    el('li', {}, el('i', {'style': `background:${PALETTE[i % PALETTE.length]}`}), k)));
  $('#spend-chart').replaceChildren(chart, legend);
}

async function loadApprovals() {
  const r = await call('AdminService/ListPendingApprovals', {});
  if (r.approvals.length === 0) {
    $('#approvals-body').replaceChildren(el('p', {}, 'Nothing awaits approval.'));
    return;
  }
  const rows = r.approvals.map((a) => el('tr', {'data-id': a.authorization_id},
    el('td', {'class': 'mono'}, a.authorization_id),
    el('td', {}, a.agent_id, el('br'), el('small', {}, a.wallet_id)),
    el('td', {'class': 'num'}, usd(a.amount_usd), el('br'), el('small', {}, `${a.amount} ${a.asset} on ${a.chain}`)),
    el('td', {'class': 'mono'}, a.destination),
    el('td', {}, a.reason),
    el('td', {}, `${a.votes.length} of ${a.approvals_required}`),
    el('td', {}, time(a.created_at)),
    el('td', {},
       hasRole('approver') && el('button', {'type': 'button', 'data-action': 'approve',
                                 'onclick': () => answer('Approve', a)}, 'Approve'),
       ' ',
       el('button', {'type': 'button', 'class': 'secondary', 'data-action': 'reject',
                     'onclick': () => answer('Reject', a)}, 'Reject'))));
  $('#approvals-body').replaceChildren(el('table', {},
    el('thead', {}, el('tr', {}, ['Request', 'Agent', 'Amount', 'Destination', 'Why',
                                  'Approvals', 'Asked at', ''].map((h) => el('th', {'scope': 'col'}, h)))),
    el('tbody', {}, rows)));
}

async function answer(method, a) {
  try {
    const r = await call('AdminService/' + method, {authorization_id: a.authorization_id});
    const decision = r.authorization.decision.replace('DECISION_', '');
    say(r.counted
        ? `${a.authorization_id}: ${method === 'Approve' ? 'approved' : 'rejected'}, now ${decision}`
        : `${a.authorization_id}: you had already answered`);
    await loadApprovals();
  } catch (e) {
    say(`${method} ${a.authorization_id}: ${e.message}`, true);
  }
}

const AUDIT_COLUMNS = ['seq', 'time', 'type', 'actor', 'department_id', 'agent_id', 'wallet_id',
                       'decision', 'status', 'chain', 'asset', 'amount', 'amount_usd',
                       'destination', 'tx_hash', 'authorization_id'];
let audit = {records: [], request: null};

async function loadAudit() {
  const chain = $('#chain-state');
  chain.textContent = 'Verifying the chain...';
  call('AuditService/VerifyChain', {}).then((v) => {
    chain.className = v.ok ? 'ok-state' : 'error';
    chain.textContent = v.ok
        ? `Chain verified: ${v.records} records` +
          (Number(v.checkpoints) > 0 ? `, ${v.checkpoints} signed checkpoints.` : '.')
        : `Chain BROKEN at record ${v.first_bad_seq}: ${v.problem}`;
  }, (e) => {
    chain.className = 'error';
    chain.textContent = `Chain not verified: ${e.message}`;
  });
  const form = $('#audit-form');
  const request = {page_size: 100};
  for (const name of ['department_id', 'agent_id', 'wallet_id', 'chain', 'asset', 'decision', 'type']) {
    if (form[name].value.trim()) request[name] = form[name].value.trim();
  }
  if (form.from.value) request.from = dateToTimestamp(form.from.value);
  if (form.to.value) request.to = dateToTimestamp(form.to.value);
  audit = {records: [], request};
  await auditPage();
}

async function auditPage() {
  const after = audit.records.length ? audit.records[audit.records.length - 1].seq : '0';
  const r = await call('AuditService/QueryEvents', {...audit.request, after_seq: after});
  audit.records.push(...r.records);
  $('#audit-more').hidden = r.records.length < audit.request.page_size;
  const shown = ['seq', 'time', 'type', 'actor', 'agent_id', 'decision', 'status', 'amount_usd',
                 'destination'];
  const text = (rec, c) => {
    if (c === 'time') return time(rec.time);
    if (c === 'amount_usd') return rec.amount_usd ? usd(rec.amount_usd) : '';
    return String(rec[c] ?? '').replace(/^DECISION_UNSPECIFIED$/, '');
  };
  const rows = audit.records.map((rec) => el('tr', {}, shown.map((c) =>
    el('td', {'class': c === 'destination' ? 'mono' : null}, text(rec, c)))));
  $('#audit-body').replaceChildren(el('table', {},
    el('caption', {'class': 'hint'}, `${audit.records.length} records`),
    el('thead', {}, el('tr', {}, shown.map((c) => el('th', {'scope': 'col'}, c)))),
    el('tbody', {}, rows)));
  const csv = $('#audit-csv');
  if (csv.href.startsWith('blob:')) URL.revokeObjectURL(csv.href);
  csv.href = URL.createObjectURL(new Blob([toCsv(audit.records)], {type: 'text/csv'}));
  csv.hidden = audit.records.length === 0;
}

// RFC 4180, with cells that a spreadsheet would run as a formula quoted
// behind an apostrophe.
function toCsv(records) {
  const cell = (v) => {
    let s = String(v ?? '');
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
    return /[",\r\n]/.test(s) || s.startsWith("'") ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [AUDIT_COLUMNS.join(',')];
  for (const r of records) lines.push(AUDIT_COLUMNS.map((c) => cell(r[c])).join(','));
  return lines.join('\r\n') + '\r\n';
}

const SCOPE_KINDS = {agent: 'agent_id', department: 'department_id', wallet: 'wallet_id',
                     destination: 'destination'};

function scopeRef(scope) {
  const [kind, ...rest] = scope.split('/');
  if (kind === 'org') return {org: true};
  return SCOPE_KINDS[kind] ? {[SCOPE_KINDS[kind]]: rest.join('/')} : null;
}

async function loadFrozen() {
  $('#freeze-form').hidden = !hasRole('admin');
  const r = await call('AdminService/ListFrozenScopes', {});
  if (r.scopes.length === 0) {
    $('#frozen-body').replaceChildren(el('p', {}, 'Nothing is frozen.'));
    return;
  }
  $('#frozen-body').replaceChildren(el('table', {},
    el('thead', {}, el('tr', {}, ['Scope', 'Frozen at', 'By', 'Reason', '']
      .map((h) => el('th', {'scope': 'col'}, h)))),
    el('tbody', {}, r.scopes.map((s) => el('tr', {'data-scope': s.scope},
      el('td', {'class': 'mono'}, s.scope), el('td', {}, time(s.frozen_at)),
      el('td', {}, s.actor), el('td', {}, s.reason),
      el('td', {}, s.decommissioned ? 'decommissioned'
        : hasRole('admin') && scopeRef(s.scope) &&
          el('button', {'type': 'button', 'class': 'secondary',
                        'onclick': () => unfreeze(s.scope)}, 'Unfreeze')))))));
}

async function unfreeze(scope) {
  const reason = prompt(`Why unfreeze ${scope}? (recorded in the audit trail)`);
  if (!reason) return;
  try {
    await call('AdminService/UnfreezeScope', {scope: scopeRef(scope), reason});
    say(`${scope} unfrozen`);
    await loadFrozen();
  } catch (e) {
    say(`Unfreeze ${scope}: ${e.message}`, true);
  }
}

// ---- Wiring.

document.addEventListener('DOMContentLoaded', () => {
  $('#signin-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('#token').value.trim();
    signIn(token).catch((e) => {
      session = null;
      $('#signin-error').textContent = `Sign-in failed: ${e.message}`;
    });
  });
  $('#sign-out').addEventListener('click', () => signOut());
  $('#spend-form').addEventListener('submit', (event) => {
    event.preventDefault();
    loadSpend().catch((e) => say(e.message, true));
  });
  $('#audit-form').addEventListener('submit', (event) => {
    event.preventDefault();
    loadAudit().catch((e) => say(e.message, true));
  });
  $('#audit-more').addEventListener('click', () => auditPage().catch((e) => say(e.message, true)));
  $('#freeze-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const scope = form.kind.value === 'org' ? {org: true} : {[form.kind.value]: form.id.value.trim()};
    try {
      const r = await call('AdminService/FreezeScope', {scope, reason: form.reason.value});
      say(`${r.scope} frozen: ${r.wallets_frozen} wallets, ${r.holds_voided} holds voided`);
      form.reset();
      await loadFrozen();
    } catch (e) {
      say(`Freeze: ${e.message}`, true);
    }
  });
  window.addEventListener('hashchange', route);
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    signIn(saved).catch((e) => signOut(`Sign-in failed: ${e.message}`));
  } else {
    signOut();
  }
});
