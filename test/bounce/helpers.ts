/**
 * Parsing helpers for notices: mailparser for the structure a mail client sees, plus a strict
 * split of the multipart body to check each part's own header and body byte for byte.
 */
import { expect } from "bun:test";
import { type ParsedMail, simpleParser } from "mailparser";
import type { Notice } from "../../src/bounce/index.ts";
import { text } from "./fixture.ts";

export interface Part {
  headers: Record<string, string>;
  body: string;
}

export interface ParsedNotice {
  raw: string;
  mail: ParsedMail;
  boundary: string;
  parts: Part[];
  /** message/delivery-status: per-message block, then one block per recipient. */
  dsn: Record<string, string>[];
}

/** Header block "Name: value" lines (unfolded) into a lower-case keyed record. */
export function fields(block: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of block.replace(/\r\n[ \t]+/g, " ").split("\r\n")) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`not a field: ${JSON.stringify(line)}`);
    out[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return out;
}

/** The RFC 3464 blocks of a message/delivery-status body, with field names as written. */
export function dsnBlocks(body: string): Record<string, string>[] {
  return body
    .replace(/\r\n[ \t]+/g, " ")
    .split("\r\n\r\n")
    .filter((b) => b.trim() !== "")
    .map((block) => {
      const out: Record<string, string> = {};
      for (const line of block.split("\r\n")) {
        if (line === "") continue;
        const colon = line.indexOf(":");
        out[line.slice(0, colon)] = line.slice(colon + 1).trim();
      }
      return out;
    });
}

export async function parseNotice(notice: Notice): Promise<ParsedNotice> {
  const raw = text(notice.content);
  // Every line ends with CRLF, none is longer than RFC 5322's 998 characters.
  expect(raw.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/);
  expect(raw.endsWith("\r\n")).toBe(true);
  expect(Math.max(...raw.split("\r\n").map((l) => l.length))).toBeLessThanOrEqual(998);
  const mail = await simpleParser(raw, { keepDeliveryStatus: true });
  const ct = mail.headers.get("content-type") as { value: string; params: Record<string, string> };
  expect(ct.value).toBe("multipart/report");
  expect(ct.params["report-type"]).toBe("delivery-status");
  const boundary = ct.params.boundary;
  const delimiter = `\r\n--${boundary}`;
  const bodyStart = raw.indexOf("\r\n\r\n") + 4;
  const pieces = raw.slice(bodyStart - 2).split(delimiter);
  // preamble, three parts, and the closing "--\r\n".
  expect(pieces.length).toBe(5);
  expect(pieces[4]).toBe("--\r\n");
  const parts = pieces.slice(1, 4).map((p) => {
    expect(p.startsWith("\r\n")).toBe(true);
    const sep = p.indexOf("\r\n\r\n");
    return { headers: fields(p.slice(2, sep + 2)), body: p.slice(sep + 4) };
  });
  return { raw, mail, boundary, parts, dsn: dsnBlocks(parts[1].body) };
}
