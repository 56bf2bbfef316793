// The benchmark peer of skiff serve: a minimal KServe v2 infer endpoint on
// onnxruntime-node, the engine TF Serving / Triton-class servers use.
//   node serve_ort_peer.js PORT MODEL_NAME=model.onnx...
// INTRA_OP_THREADS (default 1) sets each session's intra-op threads, as
// skiff serve --intra-op-threads sets its shared pool.
const http = require('http');
const ort = require('onnxruntime-node');

const port = Number(process.argv[2]);
const sessions = {};

async function main() {
  for (const spec of process.argv.slice(3)) {
    const [name, file] = spec.split('=');
    sessions[name] = await ort.InferenceSession.create(file, {
      intraOpNumThreads: Number(process.env.INTRA_OP_THREADS || 1), interOpNumThreads: 1 });
  }
  http.createServer((request, response) => {
    const chunks = [];
    request.on('data', (chunk) => chunks.push(chunk));
    request.on('end', async () => {
      try {
        const name = request.url.split('/')[3];
        const session = sessions[name];
        const body = JSON.parse(Buffer.concat(chunks).toString());
        const feeds = {};
        for (const input of body.inputs) {
          feeds[input.name] = new ort.Tensor('float32', Float32Array.from(input.data.flat(Infinity)), input.shape);
        }
        const results = await session.run(feeds);
        const outputs = Object.entries(results).map(([output, tensor]) => ({
          name: output, datatype: 'FP32', shape: tensor.dims, data: Array.from(tensor.data) }));
        response.writeHead(200, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ model_name: name, model_version: '1', outputs }));
      } catch (error) {
        response.writeHead(400, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ error: String(error) }));
      }
    });
  }).listen(port, '127.0.0.1');
}
main();
