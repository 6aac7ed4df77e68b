/**
 * The self-signed certificate posteix serves when no certificate is configured: ECDSA P-256 for
 * $myhostname (subject CN and SAN dNSName), made with @peculiar/x509 over WebCrypto.
 *
 * SMTP between MTAs is opportunistic (RFC 7435): a self-signed certificate still encrypts, and
 * clients that verify (DANE, MTA-STS) need a real one, which the operator configures.
 */
import type * as X509 from "@peculiar/x509";

let lib: Promise<typeof X509> | null = null;

/**
 * @peculiar/x509 needs the reflect-metadata polyfill installed before it loads. Static imports
 * do not guarantee that order in the compiled binary (the bundler evaluates the ES module
 * before the CommonJS polyfill: "tsyringe requires a reflect polyfill"), so both are loaded
 * here, in sequence, on first use.
 */
function x509lib(): Promise<typeof X509> {
  lib ??= (async () => {
    await import("reflect-metadata");
    const x509 = await import("@peculiar/x509");
    x509.cryptoProvider.set(globalThis.crypto);
    return x509;
  })();
  return lib;
}

/** Validity of a generated certificate. */
export const SELF_SIGNED_DAYS = 365;

const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export interface GeneratedCertificate {
  /** PEM, one certificate. */
  cert: string;
  /** PKCS#8 PEM. */
  key: string;
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f; // a positive INTEGER (RFC 5280 section 4.1.2.2)
  bytes[0] |= 0x01; // and no leading zero byte
  return Buffer.from(bytes).toString("hex");
}

export async function generateSelfSigned(
  hostname: string,
  now: Date = new Date(),
  days: number = SELF_SIGNED_DAYS,
): Promise<GeneratedCertificate> {
  const x509 = await x509lib();
  const keys = (await crypto.subtle.generateKey(ECDSA_P256, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  // Backdated an hour for clients with a slow clock.
  const notBefore = new Date(now.getTime() - 3600_000);
  const notAfter = new Date(now.getTime() + days * 86400_000);
  const cn = hostname.replace(/[,+="\\<>;#]/g, "");
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [cn] }],
    notBefore,
    notAfter,
    signingAlgorithm: ECDSA_P256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: hostname }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    cert: `${cert.toString("pem").trim()}\n`,
    key: `${x509.PemConverter.encode(pkcs8, "PRIVATE KEY").trim()}\n`,
  };
}
