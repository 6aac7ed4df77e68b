import { expect, test } from "bun:test";
import { runtimeMemoryTarget } from "../../src/master/runtime-memory.ts";

const GB = 1073741824;

test("the heap is sized for $runtime_memory_size, never above the machine, never over the operator", () => {
  expect(runtimeMemoryTarget(GB, 24 * GB, {})).toBe(GB);
  expect(runtimeMemoryTarget(512 * 1048576, 24 * GB, {})).toBe(512 * 1048576);
  // A machine with less memory than asked for: the runtime's own sizing already fits it.
  expect(runtimeMemoryTarget(GB, GB / 2, {})).toBeNull();
  expect(runtimeMemoryTarget(GB, GB, {})).toBeNull();
  // 0 turns it off; an operator's BUN_JSC_forceRAMSize is theirs.
  expect(runtimeMemoryTarget(0, 24 * GB, {})).toBeNull();
  expect(runtimeMemoryTarget(GB, 24 * GB, { BUN_JSC_forceRAMSize: "300000000" })).toBeNull();
});
