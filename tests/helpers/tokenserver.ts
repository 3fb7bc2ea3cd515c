/**
 * A Docker token-auth server (the "realm" of a Bearer challenge) for tests:
 * checks Basic credentials and issues RS256 JWTs that real distribution
 * verifies against the certificate it is configured with. It is the auth
 * service, not a registry: the registry under test is real distribution.
 */
import { createSign } from "node:crypto";
import { join } from "node:path";

/** A certificate and key made with openssl. */
export interface Certificate {
  certPath: string;
  keyPath: string;
  pem: string;
  keyPem: string;
}

async function openssl(args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
}

/** Make a self-signed certificate (a token signer: any certificate will do). */
export async function makeCertificate(dir: string, name: string): Promise<Certificate> {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-keyout",
    keyPath,
    "-out",
    certPath,
    "-subj",
    `/CN=${name}`,
  ]);
  return { certPath, keyPath, pem: await Deno.readTextFile(certPath), keyPem: await Deno.readTextFile(keyPath) };
}

/** A private CA and a server certificate for 127.0.0.1 and `names` signed by it, as a site's PKI would issue. */
export async function makeServerCertificate(
  dir: string,
  names = ["localhost"],
  commonName = "127.0.0.1",
): Promise<{ ca: Certificate; server: Certificate }> {
  const ca = await makeCertificate(dir, "private-ca");
  const keyPath = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const certPath = join(dir, "server.crt");
  const ext = join(dir, "server.ext");
  const san = ["IP:127.0.0.1", ...names.map((n) => `DNS:${n}`)].join(",");
  await Deno.writeTextFile(
    ext,
    `basicConstraints=CA:FALSE\nsubjectAltName=${san}\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
  );
  await openssl([
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyPath,
    "-out",
    csr,
    "-subj",
    `/CN=${commonName}`,
  ]);
  await openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.certPath,
    "-CAkey",
    ca.keyPath,
    "-CAcreateserial",
    "-days",
    "2",
    "-out",
    certPath,
    "-extfile",
    ext,
  ]);
  return {
    ca,
    server: { certPath, keyPath, pem: await Deno.readTextFile(certPath), keyPem: await Deno.readTextFile(keyPath) },
  };
}

const b64url = (data: Uint8Array | string) =>
  btoa(typeof data === "string" ? data : String.fromCharCode(...data)).replace(/=+$/, "").replace(/\+/g, "-").replace(
    /\//g,
    "_",
  );

/** A running token server. */
export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** Scopes requested so far (for assertions). */
  requests: { scopes: string[]; user?: string }[];
  /** distribution's `auth: token:` configuration trusting this server (`extraConfig` of startRegistry). */
  registryConfig: string;
  close(): Promise<void>;
}

/** Start a token server granting everything to `user`/`password`, nothing to anyone else. */
export function startTokenServer(cert: Certificate, user: string, password: string): TokenServer {
  const der = Uint8Array.from(
    atob(cert.pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "")),
    (c) => c.charCodeAt(0),
  );
  const service = "airgap-test-registry";
  const issuer = "airgap-test-issuer";
  const requests: { scopes: string[]; user?: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    const scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" ")).filter(Boolean);
    const auth = req.headers.get("authorization") ?? "";
    const [givenUser, givenPassword] = auth.startsWith("Basic ") ? atob(auth.slice(6)).split(":") : [];
    requests.push({ scopes, user: givenUser });
    if (givenUser !== user || givenPassword !== password) {
      return new Response(JSON.stringify({ details: "bad credentials" }), { status: 401 });
    }
    const access = scopes.map((s) => {
      const [type, ...rest] = s.split(":");
      const actions = rest.pop()!;
      return { type, name: rest.join(":"), actions: actions.split(",") };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [btoa(String.fromCharCode(...der))] };
    const claims = {
      iss: issuer,
      sub: user,
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: crypto.randomUUID(),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign("RSA-SHA256").update(input).sign(cert.keyPem);
    return Response.json({ token: `${input}.${b64url(new Uint8Array(signature))}`, expires_in: 300 });
  });
  const realm = `http://127.0.0.1:${server.addr.port}/token`;
  const registryConfig =
    `auth:\n  token:\n    realm: ${realm}\n    service: ${service}\n    issuer: ${issuer}\n    rootcertbundle: ${cert.certPath}\n`;
  return {
    realm,
    service,
    issuer,
    requests,
    registryConfig,
    close: () => server.shutdown(),
  };
}
