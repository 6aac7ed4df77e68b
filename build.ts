/**
 * build.ts -- make dist/posteix, one self-contained executable (Bun runtime included).
 *
 *   bun run build.ts                          for this machine
 *   bun run build.ts --target linux-arm64     cross-compile (any Bun target: linux-x64,
 *                                             linux-arm64, linux-x64-musl, linux-arm64-musl,
 *                                             darwin-x64, darwin-arm64, windows-x64)
 *   bun run build.ts --outfile PATH
 *
 * --bytecode halves start-up time; it needs ESM output (BUN-NOTES.md).
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    target: { type: "string" },
    outfile: { type: "string" },
    "no-bytecode": { type: "boolean", default: false },
  },
});

const TARGETS = [
  "linux-x64",
  "linux-arm64",
  "linux-x64-musl",
  "linux-arm64-musl",
  "linux-x64-baseline",
  "darwin-x64",
  "darwin-arm64",
  "windows-x64",
];

let target: string | undefined;
if (values.target) {
  const t = values.target.replace(/^bun-/, "");
  if (!TARGETS.includes(t)) {
    console.error(`build.ts: unknown target ${values.target}; one of: ${TARGETS.join(", ")}`);
    process.exit(1);
  }
  target = `bun-${t}`;
}
const outfile = values.outfile ?? (target ? `dist/posteix-${target.slice(4)}` : "dist/posteix");

const args = [
  process.execPath,
  "build",
  "--compile",
  "--minify",
  "--sourcemap=none",
  "--format=esm",
  ...(values["no-bytecode"] ? [] : ["--bytecode"]),
  ...(target ? [`--target=${target}`] : []),
  "src/main.ts",
  "--outfile",
  outfile,
];
const started = performance.now();
const proc = Bun.spawnSync(args, { stdio: ["inherit", "inherit", "inherit"] });
if (proc.exitCode !== 0) {
  console.error(`build.ts: bun build failed (exit ${proc.exitCode})`);
  process.exit(proc.exitCode ?? 1);
}
const size = Bun.file(outfile).size;
console.log(
  `build.ts: wrote ${outfile} (${(size / 1048576).toFixed(1)} MB) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
