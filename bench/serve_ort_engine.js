// onnxruntime-node alone, in process: the per-inference latency of the peer's
// engine on one model and request, to set beside `skiff bench-engine`.
//   node serve_ort_engine.js MODEL.onnx REQUEST.json ITERATIONS
// Prints "p50_us=X p99_us=Y". session.run() is asynchronous in
// onnxruntime-node (a worker thread runs it), as every Node.js server uses it.
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [file, requestFile, iterations] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const feeds = {};
  for (const input of JSON.parse(fs.readFileSync(requestFile)).inputs) {
    feeds[input.name] = new ort.Tensor('float32', Float32Array.from(input.data), input.shape);
  }
  const count = Number(iterations);
  for (let i = 0; i < Math.min(count, 200); ++i) await session.run(feeds);  // warm-up
  const times = [];
  for (let i = 0; i < count; ++i) {
    const start = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  times.sort((a, b) => a - b);
  const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  console.log(`p50_us=${at(0.5).toFixed(2)} p99_us=${at(0.99).toFixed(2)}`);
}
main();
