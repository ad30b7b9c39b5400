// Runs Python code in one Pyodide instance for the pyodide test tier (tests/pyodide).
//
//   node --experimental-websocket runner.mjs WHEEL...
//
// Loads Pyodide from this folder's node_modules (the npm package `pyodide`, offline) and
// installs each WHEEL (pure Python) by unpacking it into site-packages, as an installer does;
// a WHEEL written extra:PATH goes to /extras instead, off sys.path.
// It then reads JSON lines {"id", "code"} on stdin, runs each code with runPythonAsync
// (top-level await allowed) and answers one JSON line
// {"id", "ok", "result" | "error"} on stdout. Python's own output goes to stderr.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "pyodide";

const here = dirname(fileURLToPath(import.meta.url));
const wheels = process.argv.slice(2);
const write = (line) => process.stderr.write(`${line}\n`);
const pyodide = await loadPyodide({
  indexURL: join(here, "node_modules", "pyodide"),
  stdout: write,
  stderr: write,
});
const sitePackages = pyodide.runPython("import sysconfig; sysconfig.get_paths()['purelib']");
for (const wheel of wheels) {
  const extra = wheel.startsWith("extra:");
  const data = new Uint8Array(readFileSync(extra ? wheel.slice(6) : wheel));
  pyodide.unpackArchive(data, "wheel", { extractDir: extra ? "/extras" : sitePackages });
}
process.stdout.write(`${JSON.stringify({ ready: pyodide.version })}\n`);

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const { id, code } = JSON.parse(line);
  let answer;
  try {
    const result = await pyodide.runPythonAsync(code);
    answer = { id, ok: true, result: result === undefined ? null : String(result) };
  } catch (error) {
    answer = { id, ok: false, error: String(error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
