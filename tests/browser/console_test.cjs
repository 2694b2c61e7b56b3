// The web console in Debian's chromium, driven by playwright-core: run by
// tests/e2e/console_browser_test.cc against a wardend it seeded, with
//   WARDEN_URL              http://127.0.0.1:PORT
//   WARDEN_AUDITOR_TOKEN, WARDEN_APPROVER_TOKEN, WARDEN_ADMIN_TOKEN
//   WARDEN_PENDING_ID       an authorization awaiting approval
//   WARDEN_EXPECT           JSON: {"<scope> <limit>": ["82.0%", "warn"], ...}
//   WARDEN_SCREENSHOTS      optional: a folder for a PNG of each page
// Exits 0 when every check passes; prints what failed otherwise.
'use strict';

const path = require('path');
const assert = require('assert/strict');
const {chromium} = require(path.resolve(__dirname, '../../.tools/node_modules/playwright-core'));

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const base = env('WARDEN_URL');
const expected = JSON.parse(env('WARDEN_EXPECT'));
const shots = process.env.WARDEN_SCREENSHOTS || '';

async function shot(page, name) {
  if (!shots) return;
  await page.setViewportSize({width: 1200, height: 800});
  await page.screenshot({path: path.join(shots, `console-${name}.png`), fullPage: true});
}

// A fresh tab with every script error, CSP violation and failed request
// recorded: any of them fails the run.
async function open(browser, problems) {
  const context = await browser.newContext({viewport: {width: 1200, height: 800}});
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // A refused sign-in is answered 401, which the browser logs; that one
    // is expected.
    if (m.type() === 'error' && !/status of 401/.test(m.text())) {
      problems.push(`console error: ${m.text()}`);
    }
  });
  await page.goto(base + '/console/');
  return page;
}

async function signIn(page, token) {
  await page.getByLabel('API token', {exact: true}).fill(token);
  await page.getByRole('button', {name: 'Sign in'}).click();
  await page.locator('#who-name').waitFor({state: 'visible'});
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update',
           '--disable-sync'],
  });
  const problems = [];
  try {
    // A wrong token: the sign-in error, and nothing else shown.
    let page = await open(browser, problems);
    await shot(page, 'sign-in');
    await page.getByLabel('API token', {exact: true}).fill('wdn_nope_0000');
    await page.getByRole('button', {name: 'Sign in'}).click();
    await page.locator('#signin-error').filter({hasText: 'Sign-in failed'}).waitFor();
    assert.equal(await page.locator('#nav').isVisible(), false);
    console.log('ok: a wrong token gets the sign-in error');

    // The auditor: overview percentages and colours, the chart, the audit
    // explorer; no approve button anywhere.
    await signIn(page, env('WARDEN_AUDITOR_TOKEN'));
    await page.locator('#overview-body .limit').first().waitFor();
    for (const [key, [pct, level]] of Object.entries(expected)) {
      const [scope, limit] = key.split(' ');
      const row = page.locator(`.limit[data-scope="${scope}"][data-limit="${limit}"]`);
      assert.equal(await row.locator('.pct').textContent(), pct, key);
      assert.match(await row.getAttribute('class'), new RegExp(`\\b${level}\\b`), key);
      assert.equal(await row.getByRole('progressbar').getAttribute('aria-valuetext'), pct);
    }
    console.log(`ok: the overview shows ${Object.keys(expected).length} limits as expected`);
    await shot(page, 'overview');

    await page.getByRole('link', {name: 'Spend'}).click();
    await page.locator('#spend-chart svg rect').first().waitFor();
    const keys = await page.locator('#spend-chart svg rect').evaluateAll(
        (rects) => [...new Set(rects.map((r) => r.dataset.key))].sort());
    assert.deepEqual(keys, ['ops', 'research']);
    for (const h of await page.locator('#spend-chart svg rect').evaluateAll(
        (rects) => rects.map((r) => Number(r.getAttribute('height'))))) {
      assert.ok(h > 0, 'every bar has a height');
    }
    console.log('ok: the spend chart renders a bar for each department');
    await shot(page, 'spend');

    await page.getByRole('link', {name: 'Audit'}).click();
    await page.locator('#audit-body tbody tr').first().waitFor();
    await page.locator('#chain-state').filter({hasText: 'Chain verified'}).waitFor();
    assert.equal(await page.locator('#audit-csv').isVisible(), true);
    await page.getByLabel('Agent', {exact: true}).fill('o1');
    await page.getByRole('button', {name: 'Search'}).click();
    // Every row shown is o1's (the unfiltered page had others).
    await page.waitForFunction(() => {
      const cells = [...document.querySelectorAll('#audit-body tbody tr td:nth-child(5)')];
      return cells.length > 0 && cells.every((td) => td.textContent === 'o1');
    }, null, {timeout: 15000});
    const download = page.waitForEvent('download');
    await page.locator('#audit-csv').click();
    const csv = require('fs').readFileSync(await (await download).path(), 'utf8');
    assert.match(csv, /^seq,time,type,/);
    console.log('ok: the audit explorer filters, verifies the chain and downloads CSV');
    await shot(page, 'audit');

    assert.equal(await page.getByRole('link', {name: 'Approvals'}).isVisible(), false);
    await page.goto(base + '/console/#approvals');
    await page.locator('#approvals-body').filter({hasText: 'needs the approver or admin role'}).waitFor();
    assert.equal(await page.locator('button[data-action="approve"]').count(), 0);
    console.log("ok: an auditor's token sees no approve button");
    // A hash naming an object's built-in property is no page.
    await page.goto(base + '/console/#constructor');
    await page.locator('#overview-body .limit').first().waitFor();
    assert.equal(await page.locator('#overview').isVisible(), true);
    await page.context().close();

    // The approver approves the pending request in the page.
    page = await open(browser, problems);
    await signIn(page, env('WARDEN_APPROVER_TOKEN'));
    await page.getByRole('link', {name: 'Approvals'}).click();
    const id = env('WARDEN_PENDING_ID');
    const row = page.locator(`tr[data-id="${id}"]`);
    await row.waitFor();
    await shot(page, 'approvals');
    await row.getByRole('button', {name: 'Approve'}).click();
    await page.locator('#status').filter({hasText: `${id}: approved, now ALLOW`}).waitFor();
    await page.locator('#approvals-body').filter({hasText: 'Nothing awaits approval.'}).waitFor();
    console.log('ok: approved in the page, the request is ALLOW');
    await page.context().close();

    // The admin freezes an agent and unfreezes it.
    page = await open(browser, problems);
    await signIn(page, env('WARDEN_ADMIN_TOKEN'));
    await page.getByRole('link', {name: 'Frozen scopes'}).click();
    await page.locator('#frozen-body').filter({hasText: 'Nothing is frozen.'}).waitFor();
    await page.getByLabel('Scope', {exact: true}).selectOption('agent_id');
    await page.getByLabel('Id', {exact: true}).fill('o1');
    await page.getByLabel('Reason', {exact: true}).fill('browser test');
    await page.getByRole('button', {name: 'Freeze', exact: true}).click();
    const frozen = page.locator('tr[data-scope="agent/o1"]');
    await frozen.waitFor();
    await shot(page, 'frozen');
    page.once('dialog', (d) => d.accept('done testing'));
    await frozen.getByRole('button', {name: 'Unfreeze'}).click();
    await page.locator('#frozen-body').filter({hasText: 'Nothing is frozen.'}).waitFor();
    console.log('ok: an admin freezes and unfreezes an agent');
    await page.context().close();
  } finally {
    await browser.close();
  }
  assert.deepEqual(problems, [], 'no script errors, CSP violations or failed loads');
}

main().then(() => process.exit(0), (e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
