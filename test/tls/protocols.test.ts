import { describe, expect, test } from "bun:test";
import { constants } from "node:crypto";
import { TlsProtocolError, tlsProtocols } from "../../src/tls/index.ts";

const NO_10 = constants.SSL_OP_NO_TLSv1;
const NO_11 = constants.SSL_OP_NO_TLSv1_1;
const NO_12 = constants.SSL_OP_NO_TLSv1_2;
const NO_13 = constants.SSL_OP_NO_TLSv1_3;

const CASES: [string[], string, string, number][] = [
  [[">=TLSv1.2"], "TLSv1.2", "TLSv1.3", NO_10 | NO_11],
  [["!SSLv2", "!SSLv3", "!TLSv1", "!TLSv1.1"], "TLSv1.2", "TLSv1.3", NO_10 | NO_11],
  [["!SSLv2", "!SSLv3"], "TLSv1.2", "TLSv1.3", NO_10 | NO_11],
  [[], "TLSv1.2", "TLSv1.3", NO_10 | NO_11],
  [["TLSv1.3"], "TLSv1.3", "TLSv1.3", NO_10 | NO_11 | NO_12],
  [[">=TLSv1.3"], "TLSv1.3", "TLSv1.3", NO_10 | NO_11 | NO_12],
  [["<=TLSv1.2"], "TLSv1.2", "TLSv1.2", NO_10 | NO_11 | NO_13],
  [["!TLSv1.3"], "TLSv1.2", "TLSv1.2", NO_10 | NO_11 | NO_13],
  [[">=TLSv1", "<=TLSv1.3"], "TLSv1.2", "TLSv1.3", NO_10 | NO_11],
  [["tlsv1.2", "TLSV1.3"], "TLSv1.2", "TLSv1.3", NO_10 | NO_11],
  [[">=SSLv3"], "TLSv1.2", "TLSv1.3", NO_10 | NO_11],
];

describe("tlsProtocols", () => {
  test.each(CASES)("%p -> %s..%s", (list, min, max, bits) => {
    const r = tlsProtocols(list);
    expect<string>(r.minVersion).toBe(min);
    expect<string>(r.maxVersion).toBe(max);
    expect(r.secureOptions).toBe(bits);
  });

  test.each([
    [["TLSv9"], 'unknown TLS protocol "TLSv9"'],
    [[">=TLSv2"], 'unknown TLS protocol ">=TLSv2"'],
    [["!TLSv1.2", "!TLSv1.3"], 'no TLS protocol left by "!TLSv1.2, !TLSv1.3"'],
    [["TLSv1.1"], 'no TLS protocol left by "TLSv1.1"'],
    [["<=SSLv3"], 'no TLS protocol left by "<=SSLv3"'],
  ])("%p is refused", (list, msg) => {
    expect(() => tlsProtocols(list)).toThrow(TlsProtocolError);
    expect(() => tlsProtocols(list)).toThrow(msg);
  });
});
