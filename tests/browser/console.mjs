// Drives the Teduh console in headless Chromium against a server that tests/console_browser.rs
// started (with fake channels). It prints `STEP <name>` lines the Rust test waits on, and reads
// `GO <name>` lines from the Rust test when it must wait for something outside the browser.
// Screenshots go to $TEDUH_SHOTS.
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

const base = process.env.TEDUH_BASE;
const shots = process.env.TEDUH_SHOTS;
const reply = process.env.TEDUH_REPLY;
const input = createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();

const step = (name) => console.log(`STEP ${name}`);
async function waitFor(name) {
  for (;;) {
    const { value, done } = await lines.next();
    if (done) throw new Error(`stdin closed before GO ${name}`);
    if (value.trim() === `GO ${name}`) return;
  }
}
const shot = (page, name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

const browser = await chromium.launch({
  executablePath: process.env.TEDUH_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
let page;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('dialog', (dialog) => dialog.accept());
  page.on('pageerror', (e) => { console.error(`page error: ${e.message}`); process.exitCode = 3; });

  // Sign in with name and password; a wrong password is refused first.
  await page.goto(`${base}/console`);
  await page.fill('#name', process.env.TEDUH_USER);
  await page.fill('#password', 'wrong password!');
  await page.click('#login');
  await page.waitForSelector('text=Nama, kata sandi, atau token salah');
  await page.fill('#password', process.env.TEDUH_PASSWORD);
  await page.click('#login');
  await page.waitForSelector('#queue');
  await page.waitForSelector('text=Tidak ada kasus terbuka.');
  await shot(page, '01-queue-empty');
  step('logged-in');

  // The emergency arrives through the fake WhatsApp: it appears live, urgent, with its level.
  const urgent = page.locator('#queue tr.urgent');
  await urgent.first().waitFor({ timeout: 30000 });
  await page.locator('#queue tr.urgent >> text=tingkat 1').waitFor({ timeout: 30000 });
  await page.waitForSelector('#announce:has-text("Kasus darurat baru")');
  await shot(page, '02-urgent-case-live');
  const code = await urgent.first().getAttribute('data-code');
  step(`case ${code}`);

  // Accept from the queue: the case page opens, hers.
  await urgent.first().locator('button.accept').click();
  await page.waitForURL(`**/console#/case/${code}`);
  await page.waitForSelector('.badge.accepted');
  await page.waitForSelector('#reply');
  step('accepted');

  // Reply to the survivor; the message shows in the conversation.
  await page.fill('#reply', reply);
  await page.click('#send');
  await page.locator('#messages .msg.counselor', { hasText: reply }).waitFor();
  step('replied');
  await waitFor('answered');
  // Her answer arrives live in the conversation.
  await page.locator('#messages .msg.survivor').first().waitFor();
  await shot(page, '03-case-conversation');

  // A structured field and a note, then close.
  await page.selectOption('#f-kind', 'psikis');
  await page.click('text=Simpan');
  await page.waitForSelector('text=Tersimpan.');
  await page.click('#close');
  await page.waitForSelector('.badge.closed');
  await shot(page, '04-case-closed');
  step('closed');

  // Roster and, in English, on a phone-sized screen.
  await page.keyboard.press('Escape');
  await page.click('#nav-roster');
  await page.waitForSelector('#on-call');
  await shot(page, '05-roster');
  await page.click('#lang');
  await page.waitForSelector('text=On call now');
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click('#nav-queue');
  await page.waitForSelector('text=No open cases.');
  await shot(page, '06-queue-phone-en');

  // A supervisor signs in with her API token and reads the reports.
  const second = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const sup = await second.newPage();
  sup.setDefaultTimeout(15000);
  await sup.goto(`${base}/console`);
  await sup.click('text=Token API');
  await sup.fill('#token', process.env.TEDUH_SUPERVISOR_TOKEN);
  await sup.click('#login');
  await sup.waitForSelector('#queue');
  await sup.keyboard.press('r');
  await sup.fill('#from', '2026-11-01');
  await sup.fill('#to', '2026-11-30');
  await sup.selectOption('#tz', 'WITA');
  await sup.click('button[type=submit]');
  await sup.waitForSelector('#report-times svg.chart');
  await sup.waitForSelector('#report-cases svg.chart');
  await shot(sup, '07-reports');
  step('reports');

  // Signing out ends the session: the queue needs a new sign-in.
  await page.click('#logout');
  await page.waitForSelector('#login');
  step('done');
} catch (e) {
  // What the page showed when it went wrong, for the CI artifacts.
  if (page) await shot(page, 'failure').catch(() => {});
  throw e;
} finally {
  await browser.close();
  input.close();
}
