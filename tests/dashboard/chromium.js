// Debian's Chromium driven by npm's playwright-core (no downloaded browser),
// for the dashboard's browser checks: a page open on a live dashboard with a
// fresh profile, console errors collected, and the narrow-window check.
const { chromium } = require('playwright-core');
const fs = require('fs');
const os = require('os');
const path = require('path');

// Runs `look(page, consoleErrors)` on BASE/ in a 1400 px window and closes everything after.
async function withDashboardPage(base, look) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'skiff-chromium-'));
  // A fresh profile each time (playwright's --user-data-dir).
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 1000 },
  });
  const consoleErrors = [];
  try {
    const page = await browser.newPage();
    page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
    page.on('pageerror', (error) => consoleErrors.push(String(error)));
    await page.goto(base + '/');
    await page.waitForFunction(() => document.getElementById('updated').textContent.startsWith('updated'));
    return await look(page, consoleErrors);
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

// Resizes to a phone's 420 px and reports what sticks out past the window
// (log blocks scroll by design), after a screenshot to FILE.
async function narrowLayout(page, file) {
  await page.setViewportSize({ width: 420, height: 900 });
  await page.waitForTimeout(500);
  const narrow = await page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const wide = [...document.querySelectorAll('body *')].filter((e) => {
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.right > width + 1 && !e.closest('pre');
    }).map((e) => `${e.tagName}.${e.className}`).slice(0, 10);
    return { clientWidth: width, scrollWidth: document.documentElement.scrollWidth, wide };
  });
  await page.screenshot({ path: file, fullPage: true });
  return narrow;
}

// Runs `main` and prints what it returns as JSON (exit 1 on an error).
function printResult(main) {
  main().then((out) => console.log(JSON.stringify(out)))
    .catch((error) => { console.error(error); process.exit(1); });
}

module.exports = { withDashboardPage, narrowLayout, printResult };
