// Runs the dashboard's page in jsdom against a live `skiff dashboard`, lets
// it refresh once, and prints what it rendered as JSON:
//   node render_page.js http://127.0.0.1:PORT [LOG_NAME]
const { JSDOM } = require('jsdom');

async function main() {
  const [base, logName] = process.argv.slice(2);
  const html = await (await fetch(base + '/')).text();
  const errors = [];
  const dom = new JSDOM(html, {
    url: base + '/',
    runScripts: 'dangerously',
    beforeParse(window) {
      window.fetch = (path, options) => fetch(new URL(path, base), options);
      window.addEventListener('error', (event) => errors.push(String(event.message)));
    },
  });
  const { document } = dom.window;
  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  for (let i = 0; i < 50 && !document.getElementById('updated').textContent.startsWith('updated'); ++i) {
    await wait(100);
  }
  if (logName) {
    const select = document.getElementById('logName');
    select.value = logName;
    select.dispatchEvent(new dom.window.Event('change'));
    await wait(500);
  }
  const text = (id) => document.getElementById(id).textContent.replace(/\s+/g, ' ').trim();
  console.log(JSON.stringify({
    updated: text('updated'),
    // The columns `skiff status` has, in its order.
    runs: [...document.querySelectorAll('#runs tr')].slice(1).map((row) =>
      ['name', 'kind', 'status', 'exit', 'restarts', 'time', 'endpoint', 'metrics', 'why'].map((label) =>
        row.querySelector(`[data-label="${label}"]`).textContent.trim())),
    charts: [...document.querySelectorAll('#metrics .chart')].map((chart) => ({
      title: chart.querySelector('.title').textContent.replace(/\s+/g, ' ').trim(),
      points: chart.querySelector('polyline.series').getAttribute('points').split(' ').length,
    })),
    models: [...document.querySelectorAll('#models tr')].slice(1).map((row) =>
      [...row.querySelectorAll('td')].map((cell) => cell.textContent.trim())),
    modelsText: text('models'),
    logs: text('logs'),
    errors,
  }));
  dom.window.close();
}
main().catch((error) => { console.error(error); process.exit(1); });
