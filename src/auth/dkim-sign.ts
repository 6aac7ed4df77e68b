/**
 * DKIM signing (RFC 6376) with mailauth's dkimSign: relaxed/relaxed, rsa-sha256 with the
 * domain's RSA key, and a second ed25519-sha256 signature (RFC 8463) when an Ed25519 key exists
 * (receivers that do not know Ed25519 ignore it, RFC 8463 section 5). The message is streamed
 * through the hashers; the result is the DKIM-Signature header fields to prepend.
 */
import { Readable } from "node:stream";
import { dkimSign } from "mailauth";
import type { DkimKey } from "./dkim-keys.ts";

export type SignInput = Uint8Array | string | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export interface SignOptions {
  /** d= (the From domain, or the parent whose keys keysForDomain() found). */
  domain: string;
  keys: readonly Pick<DkimKey, "selector" | "type" | "privateKey">[];
  /** Signature time (tests); default now. */
  signTime?: Date;
  /** Header fields to sign; default mailauth's list (From, To, Subject, Date, Message-ID...). */
  headerList?: string[];
}

export interface SignResult {
  /** DKIM-Signature fields, each folded and ending in CRLF, RSA first; "" without keys. */
  headers: string;
  /** One per key that could not sign (a broken key must not stop the mail). */
  errors: string[];
}

function toInput(input: SignInput): Buffer | string | Readable {
  if (typeof input === "string") return input;
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.length);
  return Readable.from(input as AsyncIterable<Uint8Array>, { objectMode: false });
}

export async function signMessage(input: SignInput, opts: SignOptions): Promise<SignResult> {
  const ordered = [...opts.keys].sort((a, b) =>
    a.type === b.type ? 0 : a.type === "rsa" ? -1 : 1,
  );
  if (ordered.length === 0) return { headers: "", errors: [] };
  const signatureData = ordered.map((k) => ({
    signingDomain: opts.domain,
    selector: k.selector,
    privateKey: k.privateKey,
    algorithm: k.type === "rsa" ? "rsa-sha256" : "ed25519-sha256",
    canonicalization: "relaxed/relaxed",
  }));
  const r = await dkimSign(toInput(input), {
    signingDomain: opts.domain,
    selector: ordered[0].selector,
    privateKey: ordered[0].privateKey,
    canonicalization: "relaxed/relaxed",
    signTime: opts.signTime,
    headerList: opts.headerList,
    signatureData,
  });
  const headers = r.signatures.trim() === "" ? "" : r.signatures;
  return {
    headers,
    errors: (r.errors ?? []).map((e: unknown) =>
      e instanceof Error ? e.message : typeof e === "object" ? JSON.stringify(e) : String(e),
    ),
  };
}
