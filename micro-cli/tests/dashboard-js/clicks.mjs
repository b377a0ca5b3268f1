// Drives the dashboard in Debian's Chromium with real clicks (run by micro-cli/tests/dashboard.rs,
// which starts the services, the gateway and an event publisher). Steps are logged on stderr;
// the last stdout line is a JSON result: the command lines the copy buttons produced and the
// screenshots taken. Any failed check throws, and node exits non-zero.
//
// Env: DASHBOARD_URL (the page, http://127.0.0.1:port/ui/), DASHBOARD_TOKEN (the gateway's
// bearer token), CHROMIUM (the browser binary), SHOTS_DIR (where screenshots go).
import assert from 'node:assert/strict';
import path from 'node:path';
import { chromium } from 'playwright-core';

const url = process.env.DASHBOARD_URL;
const token = process.env.DASHBOARD_TOKEN;
const shots = process.env.SHOTS_DIR;
assert.ok(url && token && shots && process.env.CHROMIUM, 'DASHBOARD_URL, DASHBOARD_TOKEN, SHOTS_DIR and CHROMIUM are needed');
const origin = new URL(url).origin;
const result = { screenshots: [] };
const step = (what) => process.stderr.write(`· ${what}\n`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
const errors = [];

async function open(colorScheme, query = '') {
  const context = await browser.newContext({ colorScheme, viewport: { width: 1440, height: 1000 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // A refused resource (CSP) or a script error is a bug of the page.
    if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of (4|5)\d\d/.test(msg.text())) {
      errors.push(`console error: ${msg.text()}`);
    }
  });
  await page.goto(url + query);
  return { context, page };
}

async function shot(page, name) {
  const file = path.join(shots, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  result.screenshots.push(file);
}

// Clicks Send and waits for that call's outcome: 'ok' or 'error'.
async function send(page) {
  const before = await page.evaluate(() => Number(document.body.dataset.calls || 0));
  await page.click('#send');
  await page.waitForFunction((n) => Number(document.body.dataset.calls || 0) > n, before);
  return page.getAttribute('body', 'data-last-call');
}

const values = (page, selector) => page.$eval(selector, (svg) => svg.dataset.values);

try {
  // ---------------------------------------------------------------------------------------
  step('the token field unlocks the gateway');
  const { page } = await open('light', '?refresh=500');
  await page.waitForFunction(() => /unauthorized/.test(document.getElementById('status').textContent));
  await page.fill('#token', token);
  await page.press('#token', 'Enter');
  await page.locator('#token').blur();
  await page.waitForSelector('#services li[data-service="signup"]');
  await page.waitForSelector('#services li[data-service="hostile"]');
  await page.waitForSelector('#services li[data-service="greeter"]');

  step('search filters the list');
  await page.click('#search');
  await page.keyboard.type('sign');
  await page.waitForFunction(() => document.querySelectorAll('#services li').length === 1);
  assert.equal(await page.getAttribute('#services li', 'data-service'), 'signup');
  assert.equal(await page.textContent('#service-count'), '(1 of 3)');
  await page.fill('#search', 'greets people');
  await page.waitForFunction(() => document.querySelectorAll('#services li').length === 1);
  assert.equal(await page.getAttribute('#services li', 'data-service'), 'greeter', 'the description is searched');
  await page.fill('#search', 'nothing-like-this');
  await page.waitForSelector('#no-match', { state: 'visible' });
  await page.fill('#search', '');
  await page.waitForFunction(() => document.querySelectorAll('#services li').length === 3);
  await page.evaluate(() => document.activeElement.blur());
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'search', '/ focuses the search');

  step('clicking a service shows its docs as Markdown and its instance');
  await page.click('#services li[data-service="signup"]');
  await page.waitForFunction(() => document.getElementById('service-name').textContent === 'signup');
  assert.equal(await page.textContent('#service-description strong'), 'Bold');
  assert.equal(await page.getAttribute('#service-description a', 'href'), 'https://example.com/docs');
  assert.equal(await page.locator('#service-description li').count(), 2);
  await page.waitForSelector('#instances .instance .meta');
  assert.match(await page.textContent('#instances .instance .meta'), /region=eu-west/);
  assert.equal(await page.textContent('.endpoint[data-endpoint="register"] .doc em'), 'metadata');

  step('clicking Try shows one input per field of the request schema');
  await page.click('.endpoint[data-endpoint="register"] button.try');
  await page.waitForSelector('#call:not([hidden])');
  const kinds = await page.$$eval('#fields [data-path]', (nodes) => Object.fromEntries(nodes.map((n) => [n.dataset.path, n.dataset.kind])));
  assert.deepEqual(kinds, {
    name: 'string', age: 'integer', score: 'number', admin: 'boolean', tier: 'enum',
    address: 'object', 'address.city': 'string', 'address.zip': 'string', nickname: 'string', tags: 'json',
  });
  assert.deepEqual(await page.$$eval('[data-field-input="tier"] option', (os) => os.map((o) => o.textContent)), ['free', 'pro']);
  assert.equal(await page.getAttribute('[data-field-input="age"]', 'step'), '1');
  assert.match(await page.textContent('#fields [data-path="tier"] .help'), /plan/);

  step('filling the fields writes the JSON body');
  await page.fill('[data-field-input="name"]', 'Ada');
  await page.fill('[data-field-input="age"]', '36');
  await page.fill('[data-field-input="score"]', '9.5');
  await page.check('[data-field-input="admin"]');
  await page.selectOption('[data-field-input="tier"]', { label: 'pro' });
  await page.fill('[data-field-input="address.city"]', 'Lyon');
  await page.fill('[data-field-input="tags"]', '["x", "y"]');
  // The body starts as the schema's example; an optional field left empty is left out.
  await page.fill('[data-field-input="address.zip"]', '');
  await page.fill('[data-field-input="nickname"]', '');
  let body = JSON.parse(await page.inputValue('#body'));
  assert.deepEqual(body, { name: 'Ada', age: 36, score: 9.5, admin: true, tier: 'pro', address: { city: 'Lyon' }, tags: ['x', 'y'] });

  step('editing the JSON body fills the fields');
  await page.fill('#body', JSON.stringify({ ...body, nickname: 'Countess' }, null, 2));
  assert.equal(await page.inputValue('[data-field-input="nickname"]'), 'Countess');
  assert.equal(await page.inputValue('[data-field-input="address.city"]'), 'Lyon');

  step('a timeout and a metadata entry');
  await page.fill('#timeout', '1500ms');
  await page.click('#add-metadata');
  await page.fill('#metadata .md-row .md-key', 'Request-Id');
  await page.fill('#metadata .md-row .md-value', '42');

  step('Send shows the reply: the fields, the metadata and the deadline reached the handler');
  assert.equal(await send(page), 'ok', await page.textContent('#result'));
  const reply = JSON.parse(await page.textContent('#result'));
  assert.equal(reply.name, 'Ada');
  assert.equal(reply.tier, 'pro');
  assert.equal(reply.admin, true);
  assert.deepEqual(reply.address, { city: 'Lyon', zip: null });
  assert.equal(reply.nickname, 'Countess');
  assert.equal(reply.metadata['request-id'], '42');
  assert.ok(reply.time_left_ms > 0 && reply.time_left_ms <= 1500, `time left ${reply.time_left_ms}`);
  assert.match(await page.textContent('#call-status'), /^200 /);

  step('the copy buttons put the command lines on the clipboard and on the page');
  for (const [button, key, start] of [['#copy-curl', 'curl', 'curl -sS '], ['#copy-micro', 'micro', 'micro call signup register ']]) {
    await page.click(button);
    await page.waitForFunction((k) => document.getElementById('copy-text').dataset.kind === k, key);
    const shown = await page.textContent('#copy-text');
    const clip = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(clip, shown, `${key}: the clipboard holds what the page shows`);
    assert.ok(shown.startsWith(start), shown);
    assert.equal(await page.getAttribute('#copy-text', 'data-copied'), 'yes');
    result[key] = shown;
  }

  step('the live charts appear and move after calls');
  const spark = '#instances .instance svg.spark[data-series="requests"]';
  await page.waitForFunction((sel) => {
    const svg = document.querySelector(sel);
    return svg && svg.dataset.values.split(',').some((v) => Number(v) > 0);
  }, spark);
  await page.waitForSelector('#instances .instance svg.spark[data-series="requests"] path.line', { state: 'attached' });
  const before = await values(page, spark);
  for (let i = 0; i < 3; i++) assert.equal(await send(page), 'ok');
  // The figures count the four calls, and the chart (requests per interval) adds up to them.
  await page.waitForFunction((sel) => {
    const svg = document.querySelector(sel);
    const total = svg ? svg.dataset.values.split(',').reduce((a, v) => a + Number(v || 0), 0) : 0;
    return total >= 4 && Number(document.querySelector('#instances .instance .figure b').textContent) >= 4;
  }, spark);
  assert.notEqual(await values(page, spark), before, 'the chart moved');
  const latency = await page.$eval('#instances .instance svg.spark[data-series="latency"]', (s) => Number(s.dataset.points));
  assert.ok(latency >= 1, 'the latency chart has points');

  step('an error shows as the instance\'s last error, and the errors filter finds the service');
  await page.fill('[data-field-input="age"]', '200');
  assert.equal(await send(page), 'error');
  assert.match(await page.textContent('#result'), /422/);
  await page.waitForSelector('#instances .last-error');
  assert.match(await page.textContent('#instances .last-error'), /register.*422.*age 200 is over 150/);
  await page.check('#only-errors');
  await page.waitForFunction(() => [...document.querySelectorAll('#services li')].map((l) => l.dataset.service).join() === 'signup');
  await page.uncheck('#only-errors');
  await page.fill('[data-field-input="age"]', '36');
  assert.equal(await send(page), 'ok');
  await page.waitForTimeout(1200); // two more polls, so the charts show the calls
  await shot(page, 'light-services');

  step('a bad timeout or a reserved metadata key is refused before sending');
  await page.fill('#timeout', 'soon');
  assert.equal(await send(page), 'error');
  await page.waitForSelector('#options-error:not([hidden])');
  assert.match(await page.textContent('#options-error'), /not a duration/);
  await page.fill('#timeout', '1500ms');
  await page.fill('#metadata .md-row .md-key', 'Micro-Deadline');
  assert.equal(await send(page), 'error');
  assert.match(await page.textContent('#options-error'), /reserved/);
  await page.fill('#metadata .md-row .md-key', 'Request-Id');

  step('the event viewer: subscribe with the UI, see the events the broker publishes');
  await page.click('#tab-events');
  await page.waitForSelector('#view-events:not([hidden])');
  await page.fill('#topic', '$SRV.INFO');
  await page.click('#subscribe');
  await page.waitForFunction(() => document.getElementById('events-panel').dataset.events === 'error');
  assert.match(await page.textContent('#events-status'), /403.*internal/);
  await page.fill('#topic', 'orders.created');
  await page.click('#subscribe');
  await page.waitForFunction(() => document.getElementById('events-panel').dataset.events === 'open');
  await page.waitForFunction(() => document.querySelectorAll('#event-list li.event').length >= 3);
  const first = page.locator('#event-list li.event').first();
  assert.equal(await first.getAttribute('data-topic'), 'orders.created');
  assert.match(await first.textContent(), /Source=dashboard-test/);
  assert.match(await first.locator('pre').textContent(), /"n": \d+/);
  assert.match(await first.locator('pre').textContent(), /<img src=x onerror=/, 'the event is shown as text');
  await shot(page, 'light-events');
  await page.click('#unsubscribe');
  await page.waitForFunction(() => document.getElementById('events-panel').dataset.events === 'closed');
  const count = await page.locator('#event-list li.event').count();
  await page.waitForTimeout(700);
  assert.equal(await page.locator('#event-list li.event').count(), count, 'no events after Stop');
  await page.click('#tab-services');

  step('hostile text is shown as text');
  await page.click('#services li[data-service="hostile"]');
  await page.waitForFunction(() => document.getElementById('service-name').textContent === 'hostile');
  await page.waitForSelector('.endpoint[data-endpoint="poke"]');
  assert.match(await page.textContent('#service-description'), /<img src=x onerror=/);
  assert.match(await page.textContent('#service-description'), /<script>/);
  assert.match(await page.textContent('.endpoint[data-endpoint="poke"] .doc'), /<b>not bold<\/b>/);
  assert.equal(await page.textContent('.endpoint[data-endpoint="poke"] .doc strong'), 'bold');
  assert.match(await page.textContent('#instances .instance .meta'), /note=<img/);
  await page.click('.endpoint[data-endpoint="poke"] button.try');
  await page.waitForFunction(() => document.getElementById('call-target').textContent === 'hostile.poke');
  assert.match(await page.textContent('#fields'), /<img src=x onerror=/);
  await page.fill('[data-field-input="what.payload"]', '<svg onload="document.body.dataset.pwned=\'payload\'">');
  assert.equal(await send(page), 'error');
  assert.match(await page.textContent('#result'), /422.*<img src=x onerror=.*<svg onload=/s);
  await page.waitForSelector('#instances .last-error');
  await page.waitForTimeout(600);
  await shot(page, 'light-hostile');
  const dom = await page.evaluate(() => ({
    pwned: document.body.dataset.pwned ?? null,
    images: document.querySelectorAll('img').length,
    scripts: document.querySelectorAll('script').length,
    svgs: [...document.querySelectorAll('svg')].filter((s) => !s.classList.contains('spark')).length,
    badLinks: [...document.querySelectorAll('a')].filter((a) => !/^https?:|^mailto:/.test(a.getAttribute('href') || '')).length,
    handlers: [...document.querySelectorAll('*')].filter((n) => [...n.attributes].some((a) => a.name.startsWith('on'))).length,
  }));
  assert.deepEqual(dom, { pwned: null, images: 0, scripts: 1, svgs: 0, badLinks: 0, handlers: 0 }, JSON.stringify(dom));
  const lightBackground = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);

  // ---------------------------------------------------------------------------------------
  step('dark mode follows the system setting');
  const dark = await open('dark', `?token=${token}&refresh=500&service=signup&endpoint=register`);
  await dark.page.waitForSelector('#call:not([hidden])');
  await dark.page.waitForSelector('#instances .instance svg.spark path.line', { state: 'attached' });
  const darkBackground = await dark.page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.notEqual(darkBackground, lightBackground);
  const [r, g, b] = darkBackground.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 120, `a dark background: ${darkBackground}`);
  const panel = await dark.page.evaluate(() => getComputedStyle(document.getElementById('detail')).backgroundColor);
  assert.ok(panel.match(/\d+/g).slice(0, 3).map(Number).reduce((a, c) => a + c) < 150, `dark panels: ${panel}`);
  const text = await dark.page.evaluate(() => getComputedStyle(document.body).color);
  assert.ok(text.match(/\d+/g).slice(0, 3).map(Number).reduce((a, c) => a + c) > 500, `light text: ${text}`);
  await dark.page.fill('[data-field-input="name"]', 'Grace');
  assert.equal(await send(dark.page), 'ok');
  await dark.page.click('#copy-curl');
  await dark.page.waitForTimeout(1200);
  await shot(dark.page, 'dark-services');
  await dark.page.click('#tab-events');
  await dark.page.fill('#topic', 'orders.created');
  await dark.page.click('#subscribe');
  await dark.page.waitForFunction(() => document.querySelectorAll('#event-list li.event').length >= 2);
  await shot(dark.page, 'dark-events');

  // A narrow window: the columns stack.
  await dark.page.setViewportSize({ width: 700, height: 1000 });
  await dark.page.click('#tab-services');
  await dark.page.waitForTimeout(300);
  await shot(dark.page, 'dark-narrow');

  assert.deepEqual(errors, [], 'the page logged no errors');
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result) + '\n');
