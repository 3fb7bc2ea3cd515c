/**
 * Sprig's crypto functions: keys, CA / self-signed / signed certificates,
 * bcrypt and htpasswd, Master Password's `derivePassword`, AES. Charts call
 * them to fill Secrets (harbor's `genCA`, neuvector's `genSelfSignedCert`),
 * and a template that calls one must render for its Deployment's images to
 * be seen; the results are real, well-formed keys and certificates because
 * templates parse them (`.Cert | b64enc`, `buildCustomCert`). Keys and
 * signatures come from node:crypto (native, synchronous, RSA, ECDSA and
 * Ed25519 alike); node-forge only lays out the certificate's ASN.1.
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  scryptSync,
  sign as cryptoSign,
  X509Certificate,
} from "node:crypto";
import bcryptjs from "bcryptjs";
import forge from "node-forge";
import { execError } from "./errors.ts";
import type { TemplateFunction } from "./evaluate.ts";
import { isMap, toInt, toStr, type Value } from "./gotypes.ts";

/** Sprig's certificate struct. */
interface Certificate {
  Cert: string;
  Key: string;
}

/** A PEM private key of Sprig's kinds; RSA as PKCS#1, EC as SEC1, ed25519 as PKCS#8 (like Go's encoders). */
function privateKeyPem(kind: string): string {
  switch (kind) {
    case "rsa":
      return generateKeyPairSync("rsa", { modulusLength: 4096 }).privateKey.export({ type: "pkcs1", format: "pem" })
        .toString();
    case "ecdsa":
      return generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "sec1", format: "pem" })
        .toString();
    case "ed25519":
      return generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    case "dsa":
      return dsaPrivateKeyPem();
    default:
      return `Unknown type ${kind}`;
  }
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n, b = base % modulus, e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

/** Go's DSA key PEM (OpenSSL's `DSA PRIVATE KEY`: version, p, q, g, y, x), from node's PKCS#8 export. */
function dsaPrivateKeyPem(): string {
  const der = generateKeyPairSync("dsa", { modulusLength: 2048, divisorLength: 256 }).privateKey
    .export({ type: "pkcs8", format: "der" });
  const info = forge.asn1.fromDer(forge.util.createBuffer(der.toString("binary")));
  const seq = info.value as forge.asn1.Asn1[];
  const params = ((seq[1].value as forge.asn1.Asn1[])[1].value as forge.asn1.Asn1[]).map((n) => n.value as string);
  const x = forge.asn1.fromDer(seq[2].value as string).value as string;
  const big = (bytes: string) => BigInt(`0x${forge.util.bytesToHex(bytes) || "0"}`);
  const [p, q, g] = params;
  const y = modPow(big(g), big(x), big(p));
  const integer = (n: bigint | string) => {
    let hex = typeof n === "string" ? forge.util.bytesToHex(n) : n.toString(16);
    if (hex.length % 2) hex = `0${hex}`;
    if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
    return forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.INTEGER, false, forge.util.hexToBytes(hex));
  };
  const body = forge.asn1.create(forge.asn1.Class.UNIVERSAL, forge.asn1.Type.SEQUENCE, true, [
    integer(0n),
    integer(p),
    integer(q),
    integer(g),
    integer(y),
    integer(x),
  ]);
  return forge.pem.encode({ type: "DSA PRIVATE KEY", body: forge.asn1.toDer(body).getBytes() }).replace(/\r\n/g, "\n");
}

/** A private key of a template argument (RSA, EC or Ed25519 PEM, as Sprig parses), or a new RSA key. */
function privateKey(pem?: Value): KeyObject {
  if (pem === undefined) return generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const text = toStr(pem);
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw execError("error parsing private key: no PEM data in input");
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(text);
  } catch (e) {
    throw execError(`error parsing private key: ${(e as Error).message}`);
  }
  if (!["rsa", "ec", "ed25519"].includes(key.asymmetricKeyType ?? "")) {
    throw execError("x509: only RSA, ECDSA and Ed25519 keys supported");
  }
  return key;
}

/** Go's PEM for a key: RSA as PKCS#1, EC as SEC1, Ed25519 as PKCS#8 (Sprig's `pemBlockForKey`). */
function keyPem(key: KeyObject): string {
  const type = key.asymmetricKeyType === "rsa" ? "pkcs1" : key.asymmetricKeyType === "ec" ? "sec1" : "pkcs8";
  return key.export({ type, format: "pem" } as never).toString();
}

const asn1 = forge.asn1;

/** The signature algorithm Go's x509 picks for a key: SHA-256 with RSA, ECDSA by curve size, pure Ed25519. */
function signatureAlgorithm(key: KeyObject): { oid: string; hash: string | null; nullParams: boolean } {
  if (key.asymmetricKeyType === "ed25519") return { oid: "1.3.101.112", hash: null, nullParams: false };
  if (key.asymmetricKeyType === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "secp384r1") return { oid: "1.2.840.10045.4.3.3", hash: "sha384", nullParams: false };
    if (curve === "secp521r1") return { oid: "1.2.840.10045.4.3.4", hash: "sha512", nullParams: false };
    return { oid: "1.2.840.10045.4.3.2", hash: "sha256", nullParams: false };
  }
  return { oid: "1.2.840.113549.1.1.11", hash: "sha256", nullParams: true };
}

function algorithmIdentifier(alg: { oid: string; nullParams: boolean }): forge.asn1.Asn1 {
  const items = [asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(alg.oid).getBytes())];
  if (alg.nullParams) items.push(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ""));
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, items);
}

function derOf(node: forge.asn1.Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), "binary");
}

function fromDer(bytes: Uint8Array): forge.asn1.Asn1 {
  return asn1.fromDer(forge.util.createBuffer(Buffer.from(bytes).toString("binary")));
}

/** The subject Name of a PEM certificate, as ASN.1 (an issuer for the certificates it signs). */
function subjectOf(certPem: string): forge.asn1.Asn1 {
  const tbs = (fromDer(new X509Certificate(certPem).raw).value as forge.asn1.Asn1[])[0].value as forge.asn1.Asn1[];
  const offset = tbs[0].tagClass === asn1.Class.CONTEXT_SPECIFIC ? 1 : 0;
  return tbs[offset + 4];
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  return bytes.toString("hex");
}

function ipList(ips: Value): string[] {
  if (ips === null || ips === undefined) return [];
  if (!Array.isArray(ips)) throw execError(`error, ips must be a list`);
  return ips.map((ip) => {
    const text = toStr(ip);
    if (!/^[\d.]+$/.test(text) && !text.includes(":")) throw execError(`error parsing ip: ${text}`);
    return text;
  });
}

function dnsList(names: Value): string[] {
  if (names === null || names === undefined) return [];
  if (!Array.isArray(names)) throw execError(`error, alternateDNS must be a list`);
  return names.map(toStr);
}

interface CertSpec {
  cn: string;
  days: number;
  ips?: string[];
  dns?: string[];
  isCA: boolean;
  key: KeyObject;
  issuer?: { subject: forge.asn1.Asn1; key: KeyObject };
}

/** A stand-in public key for node-forge's TBS builder; the real SubjectPublicKeyInfo replaces it. */
const PLACEHOLDER_KEY = forge.pki.setRsaPublicKey(new forge.jsbn.BigInteger("3"), new forge.jsbn.BigInteger("3"));

/**
 * Sprig's templates: CA (cert sign + CRL), leaf (digital signature + key encipherment, server and client
 * auth). node-forge lays out the TBSCertificate (names, validity, extensions); the public key and signature
 * are the platform's (node:crypto), so RSA, ECDSA and Ed25519 keys all work and signing is native.
 */
function makeCertificate(spec: CertSpec): Certificate {
  const signer = spec.issuer?.key ?? spec.key;
  const alg = signatureAlgorithm(signer);
  const cert = forge.pki.createCertificate();
  cert.publicKey = PLACEHOLDER_KEY;
  cert.serialNumber = serial();
  const now = Date.now();
  cert.validity.notBefore = new Date(now);
  cert.validity.notAfter = new Date(now + spec.days * 24 * 3600 * 1000);
  cert.setSubject([{ name: "commonName", value: spec.cn }]);
  cert.setIssuer([{ name: "commonName", value: spec.cn }]);
  const extensions: Record<string, unknown>[] = [
    spec.isCA
      ? { name: "keyUsage", critical: true, keyCertSign: true, digitalSignature: true, keyEncipherment: true }
      : { name: "keyUsage", critical: true, digitalSignature: true, keyEncipherment: true },
    { name: "extKeyUsage", serverAuth: true, clientAuth: true },
    { name: "basicConstraints", critical: true, cA: spec.isCA },
  ];
  const alt = [
    ...(spec.dns ?? []).map((value) => ({ type: 2, value })),
    ...(spec.ips ?? []).map((ip) => ({ type: 7, ip })),
  ];
  if (alt.length > 0) extensions.push({ name: "subjectAltName", altNames: alt });
  cert.setExtensions(extensions);
  cert.siginfo.algorithmOid = cert.signatureOid = forge.pki.oids.sha256WithRSAEncryption;
  const tbs = forge.pki.getTBSCertificate(cert);
  const fields = tbs.value as forge.asn1.Asn1[];
  fields[2] = algorithmIdentifier(alg);
  if (spec.issuer) fields[3] = spec.issuer.subject;
  fields[6] = fromDer(createPublicKey(spec.key).export({ type: "spki", format: "der" }));
  const signature = cryptoSign(alg.hash, derOf(tbs), signer);
  const whole = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    algorithmIdentifier(alg),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\0${signature.toString("binary")}`),
  ]);
  const body = derOf(whole).toString("base64").replace(/.{1,64}/g, "$&\n");
  return { Cert: `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`, Key: keyPem(spec.key) };
}

function caArgument(ca: Value): { subject: forge.asn1.Asn1; key: KeyObject } {
  if (!isMap(ca) || typeof ca.Cert !== "string" || typeof ca.Key !== "string") {
    throw execError("error: the CA argument must be a certificate from genCA or buildCustomCert");
  }
  let subject: forge.asn1.Asn1;
  try {
    subject = subjectOf(ca.Cert);
  } catch (e) {
    throw execError(`error parsing CA certificate: ${(e as Error).message}`);
  }
  return { subject, key: privateKey(ca.Key) };
}

function days(value: Value): number {
  return Number(toInt(value));
}

function buildCustomCert(certB64: Value, keyB64: Value): Certificate {
  const decode = (text: Value) => new TextDecoder().decode(Uint8Array.from(atob(toStr(text)), (c) => c.charCodeAt(0)));
  let cert: string, key: string;
  try {
    cert = decode(certB64);
    key = decode(keyB64);
    new X509Certificate(cert);
    createPrivateKey(key);
  } catch {
    throw execError("error parsing certificate or key: invalid PEM");
  }
  return { Cert: cert, Key: key };
}

/** Go's bcrypt writes `$2a$`; bcryptjs writes `$2b$` for the same hash. */
function bcrypt(password: Value): string {
  return bcryptjs.hashSync(toStr(password), 10).replace(/^\$2b\$/, "$2a$");
}

const PASSWORD_TEMPLATES: Record<string, string[]> = {
  maximum: ["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
  long: [
    "CvcvnoCvcvCvcv",
    "CvcvCvcvnoCvcv",
    "CvcvCvcvCvcvno",
    "CvccnoCvcvCvcv",
    "CvccCvcvnoCvcv",
    "CvccCvcvCvcvno",
    "CvcvnoCvccCvcv",
    "CvcvCvccnoCvcv",
    "CvcvCvccCvcvno",
    "CvcvnoCvcvCvcc",
    "CvcvCvcvnoCvcc",
    "CvcvCvcvCvccno",
    "CvccnoCvccCvcv",
    "CvccCvccnoCvcv",
    "CvccCvccCvcvno",
    "CvcvnoCvccCvcc",
    "CvcvCvccnoCvcc",
    "CvcvCvccCvccno",
    "CvccnoCvcvCvcc",
    "CvccCvcvnoCvcc",
    "CvccCvcvCvccno",
  ],
  medium: ["CvcnoCvc", "CvcCvcno"],
  short: ["Cvcn"],
  basic: ["aaanaaan", "aannaaan", "aaannaaa"],
  pin: ["nnnn"],
};

const PASSWORD_CHARACTERS: Record<string, string> = {
  V: "AEIOU",
  C: "BCDFGHJKLMNPQRSTVWXYZ",
  v: "aeiou",
  c: "bcdfghjklmnpqrstvwxyz",
  A: "AEIOUBCDFGHJKLMNPQRSTVWXYZ",
  a: "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
  n: "0123456789",
  o: "@&%?,=[]_:-+*$#!'^~;()/.",
  x: "AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
};

function uint32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n >>> 0);
  return out;
}

/** The Master Password algorithm, as Sprig implements it (scrypt N=32768 r=8 p=2, HMAC-SHA256 seed). */
function derivePassword(counter: Value, type: Value, password: Value, user: Value, site: Value): string {
  const templates = PASSWORD_TEMPLATES[toStr(type)];
  if (!templates) return `cannot find password template ${toStr(type)}`;
  const enc = new TextEncoder();
  const seed = enc.encode("com.lyndir.masterpassword");
  const userBytes = enc.encode(toStr(user)), siteBytes = enc.encode(toStr(site));
  const salt = Buffer.concat([seed, uint32(userBytes.length), userBytes]);
  const key = scryptSync(enc.encode(toStr(password)), salt, 64, { N: 32768, r: 8, p: 2, maxmem: 64 * 1024 * 1024 });
  const message = Buffer.concat([seed, uint32(siteBytes.length), siteBytes, uint32(Number(toInt(counter)))]);
  const digest = createHmac("sha256", key).update(message).digest();
  const template = templates[digest[0] % templates.length];
  return Array.from(template, (c, i) => {
    const chars = PASSWORD_CHARACTERS[c];
    return chars[digest[i + 1] % chars.length];
  }).join("");
}

function aesKey(password: Value): Buffer {
  const key = Buffer.alloc(32);
  Buffer.from(toStr(password)).copy(key);
  return key;
}

/** AES-256-CBC, PKCS#7 padding, IV first, base64 — Sprig's `encryptAES`. */
function encryptAES(password: Value, plaintext: Value): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-cbc", aesKey(password), iv);
  return Buffer.concat([iv, cipher.update(toStr(plaintext)), cipher.final()]).toString("base64");
}

function decryptAES(password: Value, text: Value): string {
  const data = Buffer.from(toStr(text), "base64");
  if (data.length < 16 || data.length % 16 !== 0) throw execError("ciphertext is not a multiple of the block size");
  const decipher = createDecipheriv("aes-256-cbc", aesKey(password), data.subarray(0, 16));
  try {
    return Buffer.concat([decipher.update(data.subarray(16)), decipher.final()]).toString();
  } catch {
    throw execError("decryptAES: bad padding");
  }
}

/** A leaf certificate from a template's arguments: self-signed, or signed by a `genCA` result; a new key unless given. */
function leafCertificate(
  cn: Value,
  ips: Value,
  dns: Value,
  d: Value,
  key: Value | undefined,
  signed?: { ca: Value },
): Certificate {
  return makeCertificate({
    cn: toStr(cn),
    ips: ipList(ips),
    dns: dnsList(dns),
    days: days(d),
    isCA: false,
    key: privateKey(key),
    ...(signed ? { issuer: caArgument(signed.ca) } : {}),
  });
}

/** Sprig's crypto functions. */
export const cryptoFunctions: Record<string, TemplateFunction> = {
  genPrivateKey: (kind) => privateKeyPem(toStr(kind)),
  genCA: (cn, d) => makeCertificate({ cn: toStr(cn), days: days(d), isCA: true, key: privateKey() }),
  genCAWithKey: (cn, d, key) => makeCertificate({ cn: toStr(cn), days: days(d), isCA: true, key: privateKey(key) }),
  genSelfSignedCert: (cn, ips, dns, d) => leafCertificate(cn, ips, dns, d, undefined),
  genSelfSignedCertWithKey: (cn, ips, dns, d, key) => leafCertificate(cn, ips, dns, d, key),
  genSignedCert: (cn, ips, dns, d, ca) => leafCertificate(cn, ips, dns, d, undefined, { ca }),
  genSignedCertWithKey: (cn, ips, dns, d, ca, key) => leafCertificate(cn, ips, dns, d, key, { ca }),
  buildCustomCert: (cert, key) => buildCustomCert(cert, key),
  bcrypt: (password) => bcrypt(password),
  htpasswd: (user, password) =>
    toStr(user).includes(":") ? `invalid username: ${toStr(user)}` : `${toStr(user)}:${bcrypt(password)}`,
  derivePassword: (counter, type, password, user, site) => derivePassword(counter, type, password, user, site),
  encryptAES: (password, plaintext) => encryptAES(password, plaintext),
  decryptAES: (password, text) => decryptAES(password, text),
  randBytes: (count) => randomBytes(Math.max(0, Number(toInt(count)))).toString("base64"),
};
