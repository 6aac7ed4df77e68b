/**
 * The JavaScript runtime (JavaScriptCore) decides when to collect garbage by the machine's
 * memory: on a 24 GB host the daemon's heap runs tens of megabytes past its live data between
 * collections, on a 1 GB VPS far less. posteix's working set is small and the same everywhere,
 * so the daemon asks the runtime to size its heap for $runtime_memory_size (1 GB by default, or
 * the machine's memory when that is less). Measured on the 2-core bench box (BENCHMARKS.md):
 * peak RSS under 20 busy sessions 135-145 MB instead of 150-175 MB, same throughput.
 *
 * The runtime reads that setting (BUN_JSC_forceRAMSize) only when it starts, so `posteix run`
 * re-executes itself once, first thing, with it in the environment: same PID, same arguments,
 * nothing opened yet. An operator's own BUN_JSC_forceRAMSize is left alone.
 */

import { totalmem } from "node:os";
import { loadConfig } from "../config/index.ts";

const ENV = "BUN_JSC_forceRAMSize";

/** The bytes to ask for, or null to leave the runtime as it is. */
export function runtimeMemoryTarget(
  configured: number,
  machine: number,
  env: Record<string, string | undefined>,
): number | null {
  if (env[ENV] !== undefined || configured <= 0) return null;
  const target = Math.min(configured, machine);
  return target < machine ? target : null;
}

/**
 * Re-execute the daemon with the heap sized for $runtime_memory_size; returns only when there
 * is nothing to do (or the runtime cannot re-execute). A configuration that does not load is
 * left for the daemon's start to report.
 */
export function tuneRuntimeMemory(configDir: string | null): void {
  const execve = (process as { execve?: (file: string, args: string[], env: object) => never })
    .execve;
  // Already set (by the operator, or this is the re-executed process): main.cf is not read.
  if (typeof execve !== "function" || process.env[ENV] !== undefined) return;
  let configured: number;
  try {
    configured = loadConfig({ configDir }).size("runtime_memory_size");
  } catch {
    return;
  }
  const target = runtimeMemoryTarget(configured, totalmem(), process.env);
  if (target === null) return;
  // In the compiled binary process.argv[1] is the embedded script: execPath alone re-runs us.
  const compiled = process.argv[1]?.startsWith("/$bunfs") ?? false;
  const args = compiled
    ? [process.execPath, ...process.argv.slice(2)]
    : [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
  execve.call(process, process.execPath, args, { ...process.env, [ENV]: String(target) });
}
