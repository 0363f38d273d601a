// The status page in a real browser (headless Chromium through puppeteer-core):
//   node status_page.js URL SERVER_PID SCREENSHOT
// loads URL (weir's stats listener, with stats-admin on), checks that both servers show UP,
// kills SERVER_PID (the server of default/alpha) and waits for alpha to turn DOWN, clicks
// beta's drain button and waits for beta to show drain (and /stats to agree), then saves a
// screenshot; last, sets beta ready and waits for its weight to show its slow start. Prints
// what it saw and how long each step took; exits 1 on any failure.
'use strict';
const puppeteer = require('puppeteer-core');

const [url, serverPid, screenshot] = process.argv.slice(2);
const fail = (msg) => { console.error('FAIL: ' + msg); process.exit(1); };

async function cell(page, server, what) {
	return page.$eval(`tr[data-server="${server}"] td.${what} .badge`, (e) => e.textContent)
		.catch(() => null);
}

async function waitFor(what, ms, test) {
	const start = Date.now();
	for (;;) {
		if (await test()) return Date.now() - start;
		if (Date.now() - start > ms) fail(`${what}: not within ${ms} ms`);
		await new Promise((r) => setTimeout(r, 50));
	}
}

(async () => {
	const browser = await puppeteer.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
		headless: true,
	});
	try {
		const page = await browser.newPage();
		const errors = [];
		page.on('pageerror', (e) => errors.push(String(e)));
		page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
		await page.setViewport({width: 1400, height: 560});
		await page.goto(url, {waitUntil: 'load'});
		await waitFor('both servers UP on the page', 5000, async () =>
			(await cell(page, 'default/alpha', 'state')) === 'UP' &&
			(await cell(page, 'default/beta', 'state')) === 'UP');
		if (!(await page.$('tr[data-server="default/beta"] button[data-state="drain"]')))
			fail('no drain button although stats-admin is on');

		process.kill(Number(serverPid));
		const down = await waitFor('alpha DOWN after its server was killed', 5000,
			async () => (await cell(page, 'default/alpha', 'state')) === 'DOWN');
		console.log(`alpha shown DOWN ${down} ms after its server was killed`);

		await page.click('tr[data-server="default/beta"] button[data-state="drain"]');
		const drained = await waitFor('beta shown as drain after the click', 5000,
			async () => (await cell(page, 'default/beta', 'admin')) === 'drain');
		console.log(`beta shown as drain ${drained} ms after the click`);
		const stats = await page.evaluate(async () => (await fetch('/stats')).json());
		const beta = stats.backends[0].servers.find((s) => s.name === 'beta');
		if (!beta || beta.admin !== 'drain') fail('/stats does not say beta is drained');
		const msg = await page.$eval('#msg', (e) => e.textContent);
		if (!/: ok$/.test(msg)) fail(`the page said "${msg}" after the click`);

		await page.screenshot({path: screenshot});
		if (errors.length) fail('the page reported errors: ' + errors.join('; '));

		// A page of another origin (the same listener named localhost) POSTs a command as a
		// form could, without reading the answer: weir must not do it.
		const elsewhere = new URL(url);
		elsewhere.hostname = 'localhost';
		const other = await browser.newPage();
		await other.goto(elsewhere.href);
		const sent = await other.evaluate(async (admin) => {
			const r = await fetch(admin, {method: 'POST', mode: 'no-cors',
				body: 'set server default/beta state maint'});
			return r.type;
		}, new URL('/admin', url).href);
		if (sent !== 'opaque') fail(`the cross-origin POST was not sent (${sent})`);
		await other.close();
		const after = await page.evaluate(async () => (await fetch('/stats')).json());
		const beta2 = after.backends[0].servers.find((s) => s.name === 'beta');
		if (!beta2 || beta2.admin !== 'drain')
			fail(`a page of another site changed beta to ${beta2 && beta2.admin}`);
		console.log('a command from a page of another site was refused');

		// Set ready again, beta is in its slow start (60 s): its weight shows its part.
		await page.click('tr[data-server="default/beta"] button[data-state="ready"]');
		const weight = (server) => page.$eval(`tr[data-server="${server}"] td.weight`,
			(e) => e.textContent).catch(() => null);
		const ramp = await waitFor('beta shown in its slow start after ready', 5000,
			async () => /^1 \(\d+%\)$/.test(await weight('default/beta')));
		console.log(`beta shown in its slow start ${ramp} ms after ready`);
		console.log('status page ok');
	} finally {
		await browser.close();
	}
})().catch((e) => fail(String(e && e.stack || e)));
