// Looks at `skiff dashboard --target k8s` in Debian's Chromium as a person
// would, prints what the page shows as JSON and saves screenshots:
//   node cluster_check.js http://127.0.0.1:PORT SCREENSHOT_DIR LOG_NAME
// What it checks is decided by the caller (k8s_target_test.cpp).
const fs = require('fs');
const path = require('path');
const { withDashboardPage, narrowLayout, printResult } = require('./chromium');

printResult(async () => {
  const [base, shots, logName] = process.argv.slice(2);
  fs.mkdirSync(shots, { recursive: true });
  return withDashboardPage(base, async (page, consoleErrors) => {
    await page.waitForFunction(() => document.querySelectorAll('#cluster table.pods tr').length > 1, null, { timeout: 20000 });
    await page.waitForFunction(() => !document.getElementById('models').classList.contains('muted'), null, { timeout: 20000 });
    const rows = (selector) => page.$$eval(selector, (found) => found.slice(1).map((row) =>
      Object.fromEntries([...row.querySelectorAll('td')].map((cell) => [cell.dataset.label, cell.textContent.replace(/\s+/g, ' ').trim()]))));
    const visible = (id) => page.evaluate((element) => {
      const box = document.getElementById(element).getBoundingClientRect();
      return !document.getElementById(element).closest('[hidden]') && box.height > 0;
    }, id);
    const out = {
      consoleErrors,
      where: await page.locator('#cluster p').first().textContent(),
      objects: await rows('#cluster table.objects tr'),
      pods: await rows('#cluster table.pods tr'),
      runsShown: await visible('runsSection'),
      metricsShown: await visible('metricsSection'),
      models: (await page.locator('#models').textContent()).replace(/\s+/g, ' ').trim(),
      logNames: await page.$$eval('#logName option', (options) => options.map((o) => o.textContent)),
    };
    await page.selectOption('#logName', logName);
    await page.waitForFunction(() => !document.getElementById('logs').classList.contains('muted'), null, { timeout: 20000 });
    out.logs = (await page.locator('#logs').textContent()).replace(/\s+/g, ' ').trim();
    await page.screenshot({ path: path.join(shots, 'cluster-1400.png'), fullPage: true });
    out.narrow = await narrowLayout(page, path.join(shots, 'cluster-420.png'));
    return out;
  });
});
