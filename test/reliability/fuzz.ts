/**
 * Shared pieces of the property-based tests (test/reliability/fuzz-*.test.ts): run counts for
 * the short form (`npm test`) and the long form (POSTEIX_LONG=1, `npm run test:long`), a
 * mutation arbitrary that damages known-good samples, and a tally of the cases run, printed
 * as a `figures:` line per file.
 */
import fc from "fast-check";

export const LONG = process.env.POSTEIX_LONG === "1";

/** Runs for one property: `short` in npm test, `long` with POSTEIX_LONG=1. */
export function runs(short: number, long: number): number {
  return LONG ? long : short;
}

/** Cases run per file, for the report. */
const tally = new Map<string, number>();

export function count(file: string, n: number): void {
  tally.set(file, (tally.get(file) ?? 0) + n);
}

export function report(file: string): void {
  console.log(`figures: fuzz cases run in ${file}: ${tally.get(file) ?? 0}`);
}

/** fc.assert with the run count recorded. */
export function check<Ts extends unknown[]>(
  file: string,
  prop: fc.IPropertyWithHooks<Ts> | fc.IProperty<Ts>,
  numRuns: number,
): void {
  fc.assert(prop, { numRuns });
  count(file, numRuns);
}

export async function checkAsync<Ts extends unknown[]>(
  file: string,
  prop: fc.IAsyncPropertyWithHooks<Ts> | fc.IAsyncProperty<Ts>,
  numRuns: number,
): Promise<void> {
  await fc.assert(prop, { numRuns });
  count(file, numRuns);
}

/** One edit of a string: insert, delete or replace a few characters at a position. */
const edit = fc.record({
  at: fc.nat(),
  del: fc.nat({ max: 4 }),
  ins: fc.oneof(
    fc.string({ maxLength: 4 }),
    fc.constantFrom(
      "\r",
      "\n",
      "\r\n",
      "\0",
      "@",
      "<",
      ">",
      '"',
      "\\",
      ":",
      ",",
      "$",
      "{",
      "}",
      ".",
      " ",
      "\t",
      "%",
      "!",
      "\u00e9",
      "\ud83d\ude00",
      "\udc00",
    ),
  ),
});

/** Samples with a few random edits applied: inputs that are almost right. */
export function mutated(samples: readonly string[]): fc.Arbitrary<string> {
  return fc
    .tuple(fc.constantFrom(...samples), fc.array(edit, { maxLength: 4 }))
    .map(([s, edits]) => {
      let out = s;
      for (const e of edits) {
        const at = out.length === 0 ? 0 : e.at % (out.length + 1);
        out = out.slice(0, at) + e.ins + out.slice(at + e.del);
      }
      return out;
    });
}

/** Random text, mutated samples, and text from a small hostile alphabet. */
export function hostileText(samples: readonly string[], alphabet: string): fc.Arbitrary<string> {
  const chars = [...alphabet];
  return fc.oneof(
    fc.string({ maxLength: 80 }),
    fc.string({ unit: "binary", maxLength: 80 }),
    mutated(samples),
    fc.array(fc.constantFrom(...chars), { maxLength: 60 }).map((a) => a.join("")),
  );
}

/** RSS of this process, to show that a long run did not grow without bound. */
export function rssMB(): number {
  return Math.round(process.memoryUsage().rss / 1048576);
}
