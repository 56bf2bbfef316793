// Drives Debian's Chromium (npm's playwright-core, no downloaded browser)
// through a live `skiff dashboard`, prints what it saw as JSON and saves
// screenshots:
//   node browser_check.js http://127.0.0.1:PORT SCREENSHOT_DIR
// What it checks is decided by the caller (dashboard_test.cpp); this only
// looks, clicks and hovers as a person would.
const fs = require('fs');
const path = require('path');
const { withDashboardPage, narrowLayout, printResult } = require('./chromium');

printResult(async () => {
  const [base, shots] = process.argv.slice(2);
  fs.mkdirSync(shots, { recursive: true });
  return withDashboardPage(base, async (page, consoleErrors) => {
    const out = { consoleErrors };
    await page.waitForFunction(() => document.querySelectorAll('#models a.open').length > 0, null, { timeout: 20000 });
    await page.waitForFunction(() => document.querySelectorAll('#models .chart').length > 0, null, { timeout: 20000 });

    out.runs = await page.$$eval('#runs tr', (rows) => rows.slice(1).map((row) =>
      Object.fromEntries([...row.querySelectorAll('td')].map((cell) => [cell.dataset.label, cell.textContent.trim()]))));
    out.served = await page.$$eval('#models table.served tr', (rows) => rows.slice(1).map((row) =>
      [...row.querySelectorAll('td')].map((cell) => cell.textContent.replace(/\s+/g, ' ').trim())));
    out.healthCharts = await page.$$eval('#models .chart .title', (titles) => titles.map((t) => t.textContent));

    // Hover the right end of the step chart of the 30-step loss: its last value.
    const loss = page.locator('#metrics .chart', { hasText: 'train loss' }).first();
    const box = await loss.locator('svg').boundingBox();
    await page.mouse.move(box.x + box.width - 12, box.y + box.height / 2);
    out.hover = await loss.locator('.tip').textContent();
    out.lossSummary = await loss.locator('.summary').textContent();
    out.lossTicks = await loss.locator('text.xtick').allTextContents();
    out.aucTicks = await page.locator('#metrics .chart', { hasText: 'train auc' }).first()
      .locator('text.ytick').allTextContents();

    // A metric with one value is a visible point.
    const accuracy = page.locator('#metrics .chart', { hasText: 'train accuracy' }).first();
    const dot = accuracy.locator('circle.point');
    out.singlePoint = { circles: await dot.count(), box: await dot.first().boundingBox(),
      summary: await accuracy.locator('.summary').textContent() };

    // Smoothing redraws the charts with the raw line behind.
    await page.locator('#smoothing').fill('0.6');
    await page.waitForFunction(() => [...document.querySelectorAll('#metrics .chart')]
      .some((c) => c.textContent.includes('train loss') && c.querySelectorAll('polyline').length === 2));
    out.smoothedLines = await page.locator('#metrics .chart', { hasText: 'train loss' }).first().locator('polyline').count();

    // Filter, then compare the two train runs.
    await page.selectOption('#filterName', 'train');
    await page.waitForFunction(() => [...document.querySelectorAll('#runs tr')].slice(1)
      .every((row) => row.querySelector('[data-label="name"]').textContent === 'train'));
    out.filteredRuns = await page.locator('#runs tr').count() - 1;
    for (const box of await page.locator('#runs input.pick').all()) await box.check();
    await page.click('#compare');
    await page.waitForSelector('#comparison table');
    out.compareHeads = await page.$$eval('#comparison th', (cells) => cells.map((c) => c.textContent));
    out.compareRows = await page.$$eval('#comparison tr', (rows) => rows.slice(1).map((row) => row.firstChild.textContent));
    out.overlaid = await page.locator('#comparison .chart', { hasText: 'loss' }).first().locator('polyline.series').count();

    // The served version links to its run, and the run back to the version.
    await page.locator('#models a.open').first().click();
    await page.waitForFunction(() => !document.getElementById('runSection').hidden);
    out.runTitle = await page.locator('#runTitle').textContent();
    out.runArtifacts = await page.locator('#run ul.artifacts').textContent();
    out.runParams = await page.locator('#run table.params').textContent();

    // The failing job's restarts, in words.
    await page.selectOption('#filterName', 'flaky');
    await page.waitForFunction(() => document.querySelectorAll('#runs a.open').length > 0 &&
      [...document.querySelectorAll('#runs [data-label="name"]')].every((c) => c.textContent === 'flaky'));
    await page.locator('#runs a.open').first().click();
    await page.waitForFunction(() => document.getElementById('runTitle').textContent.includes('flaky'));
    out.flakyEvents = await page.locator('#run ul.events li').allTextContents();
    await page.selectOption('#filterName', '');
    await page.waitForTimeout(300);
    await page.mouse.move(5, 5);
    await page.screenshot({ path: path.join(shots, 'dashboard-1400.png'), fullPage: true });

    out.narrow = await narrowLayout(page, path.join(shots, 'dashboard-420.png'));
    return out;
  });
});
